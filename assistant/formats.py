"""Render a ``CallReport`` as JSON, Markdown, SubRip, WebVTT, plain text or a follow-up email
draft; rows as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Protocol

from assistant.email_draft import draft_email
from assistant.errors import OptionError
from assistant.report import SHOWN, CallReport, Segment

FORMATS = ("json", "md", "srt", "vtt", "txt", "email")
# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A language is named beside the others when it holds this share of the speech or this much.
MIN_LANGUAGE_SHARE = 0.05
MIN_LANGUAGE_S = 5.0
LANGUAGE_NAMES = {
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "tr": "Turkish",
}


class _Spoken(Protocol):
    """A piece of transcript (a report's ``Segment`` or a stored one)."""

    start_s: float
    end_s: float
    language: str | None


def _clock(seconds: float, sep: str = ".", hours: bool = True) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    head = f"{h:02d}:" if hours or h else ""
    return f"{head}{m:02d}:{s:02d}{sep}{ms:03d}"


def timestamp(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss`` as people read call times."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _who(segment: Segment) -> str:
    if segment.speaker and segment.role:
        return f"{segment.speaker} ({segment.role})"
    return segment.speaker or segment.role or ""


def languages_spoken(segments: Iterable[_Spoken]) -> list[tuple[str, float]]:
    """``(language, share of the speech)`` of each language that holds real speech (at least
    ``MIN_LANGUAGE_SHARE`` or ``MIN_LANGUAGE_S``), most spoken first; empty unless there are two
    or more, since a call in one language says so in its ``language``."""
    seconds: dict[str, float] = {}
    for s in segments:
        if s.language:
            seconds[s.language] = seconds.get(s.language, 0.0) + max(0.0, s.end_s - s.start_s)
    total = sum(seconds.values())
    real = [
        (lang, t / total)
        for lang, t in sorted(seconds.items(), key=lambda kv: -kv[1])
        if t >= MIN_LANGUAGE_S or t >= MIN_LANGUAGE_SHARE * total
    ]
    return real if len(real) > 1 else []


def languages_text(segments: Iterable[_Spoken]) -> str:
    """``German 80 %, English 20 %`` for a call in several languages; empty for one."""
    return ", ".join(
        f"{LANGUAGE_NAMES.get(lang, lang)} {round(share * 100)} %"
        for lang, share in languages_spoken(segments)
    )


def csv_cell(value: object) -> object:
    """``value`` for a CSV cell: text that a spreadsheet would run as a formula gets a leading
    ``'``, so it shows as the text it is. Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text, every cell through ``csv_cell``: the one way this product writes CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


def to_json(report: CallReport) -> str:
    return report.model_dump_json(indent=2, exclude=SHOWN) + "\n"


def to_txt(report: CallReport) -> str:
    lines = []
    for seg in report.segments:
        who = _who(seg)
        lines.append(f"[{timestamp(seg.start_s)}] {who + ': ' if who else ''}{seg.text}")
    return "\n".join(lines) + "\n"


def to_srt(report: CallReport) -> str:
    blocks = []
    for n, seg in enumerate(report.segments, 1):
        who = f"{seg.speaker}: " if seg.speaker else ""
        times = f"{_clock(seg.start_s, ',')} --> {_clock(seg.end_s, ',')}"
        blocks.append(f"{n}\n{times}\n{who}{seg.text}\n")
    return "\n".join(blocks)


def to_vtt(report: CallReport) -> str:
    blocks = ["WEBVTT\n"]
    for seg in report.segments:
        text = f"<v {seg.speaker}>{seg.text}" if seg.speaker else seg.text
        blocks.append(f"{_clock(seg.start_s)} --> {_clock(seg.end_s)}\n{text}\n")
    return "\n".join(blocks)


def to_md(report: CallReport) -> str:
    src = report.source
    mixed = languages_text(report.segments)
    out = [
        f"# Call report: {src.path.rsplit('/', 1)[-1]}",
        "",
        f"- Duration: {timestamp(src.duration_s)} ({src.kind}, {src.channels} channel(s))",
        f"- Languages: {mixed}" if mixed else f"- Language: {report.language or 'unknown'}",
        f"- Model: {report.provenance.engine} {report.provenance.model}",
        f"- sha256: `{src.sha256}`",
        "",
    ]
    if any(s.role_uncertain for s in report.speakers):
        out[-1:-1] = ["- Roles uncertain: who is the rep was guessed from the words; check them"]
    if report.summary and report.summary.overview:
        out += ["## Summary", "", report.summary.overview, ""]
    titles = {
        "action_item": "Action items",
        "customer_need": "Customer needs",
        "objection": "Objections",
    }
    for kind, title in titles.items():
        items = [i for i in report.items if i.kind == kind]
        if not items:
            continue
        out += [f"## {title}", ""]
        for item in items:
            extra = [x for x in (item.owner, item.due and f"due {item.due}", item.category) if x]
            detail = f" ({', '.join(map(str, extra))})" if extra else ""
            out.append(f'- [{timestamp(item.start_s)}] {item.text}{detail}: "{item.quote}"')
        out.append("")
    out += ["## Transcript", ""]
    for seg in report.segments:
        who = _who(seg)
        out.append(
            f"**[{timestamp(seg.start_s)}]** {'**' + who + ':** ' if who else ''}{seg.text}  "
        )
    return "\n".join(out) + "\n"


def to_email(report: CallReport) -> str:
    """The follow-up email to the customer (``assistant.email_draft``), subject line first."""
    return draft_email(report).text


RENDERERS: dict[str, Callable[[CallReport], str]] = {
    "json": to_json,
    "md": to_md,
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
    "email": to_email,
}


def render(report: CallReport, fmt: str) -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise OptionError(
            f"Unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}"
        ) from None
    return renderer(report)
