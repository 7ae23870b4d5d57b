"""Compliance records: network logs, incidents, label deliveries, complaints, sanctions.

``build_recorder(settings)`` returns the ``Recorder`` the runtime starts in its lifespan;
``Recorder.submit(event)`` takes one of the three event types and never blocks or raises.
"""

from service.records.events import IncidentEvent, LabelDeliveryEvent, NetworkLogEvent
from service.records.recorder import Recorder, build_recorder
from service.records.settings import RecordSettings

__all__ = [
    "IncidentEvent",
    "LabelDeliveryEvent",
    "NetworkLogEvent",
    "RecordSettings",
    "Recorder",
    "build_recorder",
]
