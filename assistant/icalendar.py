"""An iCalendar feed (RFC 5545) of dated follow-ups: one all-day event per open action item,
so a calendar app shows what is due. Read-only; the feed's address carries its own token."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from assistant.store.followups import FollowUp


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    out, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > 75:
            out.append(current.decode())
            current = b" "
        current += encoded
    out.append(current.decode())
    return "\r\n".join(out)


def feed(name: str, items: Iterable[FollowUp], base_url: str, now: datetime) -> str:
    """The calendar of ``items`` that have a due date; ``base_url`` makes each event link to
    its moment in its call."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//sales-call-assistant//follow-ups//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(f'Follow-ups: {name}')}",
    ]
    for item in items:
        if item.due is None:
            continue
        link = f"{base_url.rstrip('/')}/calls/{item.call_id}?t={item.start_s:.1f}&item={item.id}"
        about = " · ".join(p for p in (item.customer, item.call_title) if p)
        description = "\n".join(
            p for p in (f"Owner: {item.owner}" if item.owner else "", about, link) if p
        )
        lines += [
            "BEGIN:VEVENT",
            f"UID:item-{item.id}@sales-call-assistant",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{item.due:%Y%m%d}",
            f"DTEND;VALUE=DATE:{item.due + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_escape(item.text)}",
            f"DESCRIPTION:{_escape(description)}",
            f"URL:{link}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
