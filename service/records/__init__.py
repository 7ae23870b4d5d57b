"""Compliance records: network logs, incidents, label deliveries, complaints, sanctions.

``build_recorder(settings)`` returns the ``Recorder`` the runtime starts in its lifespan;
``await Recorder.record(*events)`` returns once the events are as durable as the configured
durability mode promises; ``Recorder.submit(event)`` queues one and never blocks or raises.
"""

from service.records.events import (
    AdminActionEvent,
    IncidentEvent,
    LabelDeliveryEvent,
    NetworkLogEvent,
)
from service.records.recorder import Recorder, build_recorder
from service.records.settings import RecordSettings

__all__ = [
    "AdminActionEvent",
    "IncidentEvent",
    "LabelDeliveryEvent",
    "NetworkLogEvent",
    "RecordSettings",
    "Recorder",
    "build_recorder",
]
