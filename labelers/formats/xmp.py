"""Minimal XMP packet handling for the TC260 ``AIGC`` property (used by documents; reusable).

Reading matches the namespace URI, not the prefix (any prefix bound to
``http://www.tc260.org.cn/ns/AIGC/1.0/`` counts; element and attribute forms both occur).
Writing merges into an existing packet by editing only the AIGC property text, so other
properties survive byte for byte (PG-IMG: "按属性更新，不应整体覆盖").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape

__all__ = ["TC260_NS", "WRONG_NAMESPACES", "find_aigc", "merge_aigc", "new_packet"]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
WRONG_NAMESPACES = ("http://ns.adobe.com/xap/1.0/tc/",)
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def find_aigc(xml: bytes | str) -> list[tuple[str, list[str]]]:
    """Every AIGC property in an XMP packet: ``(json text, problems)``.

    Raises ValueError when the packet is not well-formed XML.
    """
    text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
    text = re.sub(r"<\?xpacket[^>]*\?>", "", text).strip().lstrip("\ufeff")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:  # a SyntaxError subclass, not a ValueError
        raise ValueError(f"XMP packet is not well-formed XML: {exc}") from exc
    found: list[tuple[str, list[str]]] = []
    for element in root.iter():
        candidates = [(element.tag, element.text or "")]
        candidates += list(element.attrib.items())
        for name, value in candidates:
            if not isinstance(name, str) or not name.endswith("}AIGC"):
                continue
            ns = name[1:].split("}", 1)[0]
            problems = [] if ns == TC260_NS else [f"AIGC property in wrong namespace {ns!r}"]
            found.append((value.strip(), problems))
    return found


def new_packet(json_text: str) -> str:
    """A fresh XMP packet holding only ``TC260:AIGC``."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + RDF_NS + '">'
        + _description("rdf", json_text)
        + '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _description(rdf: str, json_text: str) -> str:
    return (
        f'<{rdf}:Description {rdf}:about="" xmlns:TC260="{TC260_NS}">'
        f"<TC260:AIGC>{escape(json_text, quote=True)}</TC260:AIGC></{rdf}:Description>"
    )


def merge_aigc(packet: str, json_text: str) -> str:
    """Set the TC260 AIGC property in ``packet`` (one copy afterwards), keeping the rest."""
    find_aigc(packet)  # well-formedness check first: never edit a packet we cannot parse
    value = escape(json_text, quote=True)
    prefixes = re.findall(r'xmlns:([\w.-]+)\s*=\s*["\']' + re.escape(TC260_NS) + '["\']', packet)
    done = False
    for prefix in prefixes:
        p = re.escape(prefix)
        element = re.compile(rf"<{p}:AIGC(\s[^>]*)?>.*?</{p}:AIGC>|<{p}:AIGC(\s[^>]*)?/>", re.S)
        attribute = re.compile(rf"(\s{p}:AIGC\s*=\s*)(\"[^\"]*\"|'[^']*')")

        def set_element(m: re.Match[str], prefix: str = prefix) -> str:
            nonlocal done
            if done:
                return ""
            done = True
            return f"<{prefix}:AIGC>{value}</{prefix}:AIGC>"

        def set_attribute(m: re.Match[str]) -> str:
            nonlocal done
            if done:
                return ""
            done = True
            return f'{m.group(1)}"{value}"'

        packet = element.sub(set_element, packet)
        packet = attribute.sub(set_attribute, packet)
    if not done:
        m = re.search(r"</([\w.-]+):RDF\s*>", packet)
        if m is None:
            raise ValueError("XMP packet has no rdf:RDF element")
        packet = packet[: m.start()] + _description(m.group(1), json_text) + packet[m.start():]
    find_aigc(packet)
    return packet
