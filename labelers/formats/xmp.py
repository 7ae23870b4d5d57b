"""XMP packets: find and merge the TC260 ``AIGC`` property (PG-IMG; used by images and PDF).

Namespace ``http://www.tc260.org.cn/ns/AIGC/1.0/``, prefix ``TC260``, property ``AIGC``,
value the bare 7-field JSON (labeling.md §3.4/§3.5). Judgement calls:

- Reading matches the namespace URI, never the prefix; both the element form
  (``<TC260:AIGC>{...}</TC260:AIGC>``, Doubao) and the attribute form (``TC260:AIGC="{...}"``,
  PicWish) count. A property named ``AIGC`` under another namespace (e.g. the
  ``http://ns.adobe.com/xap/1.0/tc/`` URI of one toolkit) is reported as a record with a
  "wrong namespace" problem, because it still counts against "exactly one record".
- Writing works on the parsed DOM (``xml.dom.minidom`` keeps prefixes, attribute order,
  processing instructions and whitespace), updates the first TC260 property in its own form
  ("按属性更新，不应整体覆盖") and removes every other AIGC property, so exactly one is left.
  Everything else in the packet is kept.
- ``Iptc4xmpExt:DigitalSourceType`` = ``trainedAlgorithmicMedia`` is added for Label "1" when
  the packet has no digital source type yet. An existing value is another party's statement
  and is kept; for Label "2"/"3" (possibly/suspected) nothing is claimed.
- Packets with a DOCTYPE or entity declaration are refused (XMP never needs them; this closes
  entity-expansion attacks before expat sees the text).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from xml.dom import Node, minidom
from xml.parsers.expat import ExpatError

from .base import FoundRecord

__all__ = [
    "DIGITAL_SOURCE_TYPE",
    "IPTC_EXT_NS",
    "TC260_NS",
    "XmpError",
    "XmpProperty",
    "find_properties",
    "find_properties_lenient",
    "merge_packet",
    "new_packet",
    "records_from_packet",
]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END = '<?xpacket end="w"?>'
_FORBIDDEN = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


class XmpError(ValueError):
    """The XMP packet cannot be parsed or edited safely."""


@dataclass(frozen=True, slots=True)
class XmpProperty:
    """One AIGC property found in a packet."""

    value: str
    namespace: str
    name: str  # the qualified name as written, e.g. "TC260:AIGC"
    form: str  # "element" | "attribute"

    @property
    def problems(self) -> list[str]:
        """Problems of the carrier itself (the JSON value is checked elsewhere)."""
        found = []
        if self.namespace != TC260_NS:
            found.append(f"AIGC property in wrong namespace {self.namespace!r} (expected {TC260_NS})")
        if self.name.rpartition(":")[2] != "AIGC":
            found.append(f"property name {self.name!r}: Annex E expects 'AIGC'")
        return found


def _parse(packet: bytes) -> minidom.Document:
    if _FORBIDDEN.search(packet):
        raise XmpError("XMP packet has a DOCTYPE or entity declaration")
    try:
        return minidom.parseString(packet.strip(b"\x00 \t\r\n"))
    except (ExpatError, ValueError) as exc:
        raise XmpError(f"XMP packet is not well-formed XML: {exc}") from None


def _text(node: Node) -> str:
    parts: list[str] = []
    for child in node.childNodes:
        if child.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE):
            parts.append(child.data)
        elif child.nodeType == Node.ELEMENT_NODE:
            parts.append(_text(child))  # rdf:Alt / rdf:li wrappers
    return "".join(parts)


def _is_aigc(local: str | None) -> bool:
    return local is not None and local.lower() == "aigc"


def _occurrences(doc: minidom.Document) -> list[tuple[str, minidom.Element, str | None]]:
    """``(form, element, attribute qname or None)`` for every AIGC property, document order."""
    found: list[tuple[str, minidom.Element, str | None]] = []
    for element in doc.getElementsByTagName("*"):
        if _is_aigc(element.localName) and element.namespaceURI:
            found.append(("element", element, None))
        attrs = element.attributes
        for i in range(attrs.length):
            attr = attrs.item(i)
            if attr.namespaceURI in (None, XMLNS_NS) or not _is_aigc(attr.localName):
                continue
            found.append(("attribute", element, attr.name))
    return found


def _property(form: str, element: minidom.Element, attr: str | None) -> XmpProperty:
    if form == "element":
        return XmpProperty(_text(element).strip(), element.namespaceURI or "", element.tagName, form)
    node = element.getAttributeNode(attr)
    return XmpProperty(node.value.strip(), node.namespaceURI or "", node.name, form)


def find_properties(packet: bytes) -> list[XmpProperty]:
    """Every AIGC property of a packet, any prefix, both RDF forms. Raises XmpError."""
    return [_property(*occ) for occ in _occurrences(_parse(packet))]


_LOOSE_ELEMENT = re.compile(r"<([\w.-]+):(AIGC)\b[^>]*>(.*?)</\1:\2\s*>", re.S | re.I)
_LOOSE_ATTR = re.compile(r"\s([\w.-]+):(AIGC)\s*=\s*(\"[^\"]*\"|'[^']*')", re.I)


def find_properties_lenient(packet: bytes) -> tuple[list[XmpProperty], list[str]]:
    """Like :func:`find_properties`, but falls back to a pattern scan of a broken packet.

    Returns ``(properties, packet problems)``; inspection must still see a record in a packet
    that a sloppy writer produced.
    """
    try:
        return find_properties(packet), []
    except XmpError as exc:
        text = packet.decode("utf-8", "replace")
        props = [
            XmpProperty(html.unescape(m.group(3)).strip(), "", f"{m.group(1)}:{m.group(2)}",
                        "element")
            for m in _LOOSE_ELEMENT.finditer(text)
        ]
        props += [
            XmpProperty(html.unescape(m.group(3)[1:-1]).strip(), "",
                        f"{m.group(1)}:{m.group(2)}", "attribute")
            for m in _LOOSE_ATTR.finditer(text)
        ]
        # Without a parse the namespace is unknown: say so instead of "wrong namespace".
        props = [XmpProperty(p.value, TC260_NS, p.name, p.form) for p in props]
        return props, [str(exc)]


def new_packet(json_text: str, *, digital_source: bool = True) -> bytes:
    """A fresh packet holding ``TC260:AIGC`` (and the IPTC digital source type)."""
    iptc = (
        f' xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"' if digital_source else ""
    )
    body = f"<TC260:AIGC>{html.escape(json_text, quote=True)}</TC260:AIGC>"
    if digital_source:
        body += f"<Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"
    return (
        f'{_XPACKET_BEGIN}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}">'
        f'<rdf:Description xmlns:TC260="{TC260_NS}"{iptc} rdf:about="">{body}</rdf:Description>'
        f"</rdf:RDF></x:xmpmeta>{_XPACKET_END}"
    ).encode()


def _has_digital_source(doc: minidom.Document) -> bool:
    if doc.getElementsByTagNameNS(IPTC_EXT_NS, "DigitalSourceType"):
        return True
    for element in doc.getElementsByTagName("*"):
        if element.getAttributeNodeNS(IPTC_EXT_NS, "DigitalSourceType") is not None:
            return True
    return False


def _rdf_root(doc: minidom.Document) -> minidom.Element:
    roots = doc.getElementsByTagNameNS(RDF_NS, "RDF")
    if not roots:
        raise XmpError("XMP packet has no rdf:RDF element")
    return roots[0]


def _new_description(doc: minidom.Document, rdf: minidom.Element) -> minidom.Element:
    prefix = rdf.prefix or "rdf"
    about = ""
    for existing in rdf.getElementsByTagNameNS(RDF_NS, "Description"):
        about = existing.getAttributeNS(RDF_NS, "about")
        break
    desc = doc.createElementNS(RDF_NS, f"{prefix}:Description")
    desc.setAttributeNS(RDF_NS, f"{prefix}:about", about)
    rdf.appendChild(desc)
    return desc


def _declare(desc: minidom.Element, prefix: str, uri: str) -> None:
    desc.setAttributeNS(XMLNS_NS, f"xmlns:{prefix}", uri)


def merge_packet(packet: bytes | None, json_text: str | None, *, label: str = "1") -> bytes:
    """Set (or, with ``json_text=None``, remove) the TC260 AIGC property of ``packet``.

    Afterwards the packet holds exactly one AIGC property (none when removing); other
    properties, prefixes and namespaces are kept. Raises XmpError for a packet that cannot be
    parsed: never edit what we cannot read.
    """
    if packet is None or not packet.strip(b"\x00 \t\r\n"):
        if json_text is None:
            return packet or b""
        return new_packet(json_text, digital_source=label == "1")
    doc = _parse(packet)
    occurrences = _occurrences(doc)
    keep = None
    if json_text is not None:
        keep = next((occ for occ in occurrences if not _property(*occ).problems), None)
    for occ in occurrences:
        form, element, attr = occ
        if occ is keep:
            continue
        if form == "attribute":
            element.removeAttribute(attr)
        elif element.parentNode is not None:
            element.parentNode.removeChild(element)
    rdf = _rdf_root(doc)
    ours: minidom.Element | None = None
    if json_text is not None:
        if keep is None:
            ours = _new_description(doc, rdf)
            _declare(ours, "TC260", TC260_NS)
            prop = doc.createElementNS(TC260_NS, "TC260:AIGC")
            prop.appendChild(doc.createTextNode(json_text))
            ours.appendChild(prop)
        elif keep[0] == "attribute":
            keep[1].getAttributeNode(keep[2]).value = json_text
        else:
            element = keep[1]
            while element.firstChild is not None:
                element.removeChild(element.firstChild)
            element.appendChild(doc.createTextNode(json_text))
        if label == "1" and not _has_digital_source(doc):
            if ours is None:
                ours = _new_description(doc, rdf)
            _declare(ours, "Iptc4xmpExt", IPTC_EXT_NS)
            prop = doc.createElementNS(IPTC_EXT_NS, "Iptc4xmpExt:DigitalSourceType")
            prop.appendChild(doc.createTextNode(DIGITAL_SOURCE_TYPE))
            ours.appendChild(prop)
    out = "".join(node.toxml() for node in doc.childNodes)
    return out.encode("utf-8")


def records_from_packet(packet: bytes, carrier: str = "xmp") -> list[FoundRecord]:
    """Every AIGC property of ``packet`` as FoundRecords (lenient: broken packets too)."""
    props, packet_problems = find_properties_lenient(packet)
    return [
        FoundRecord.from_raw(carrier, p.value, problems=[*packet_problems, *p.problems])
        for p in props
    ]
