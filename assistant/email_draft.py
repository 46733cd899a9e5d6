"""A follow-up email to the customer, drafted from a call's report with plain templates.

The draft has a greeting, a thanks for the call, the customer's needs as understood (the clean
statements of the ``customer_need`` items), the agreed next steps (``action_item`` items, split
into the rep's side and the customer's side where the owners' roles are known, each with its
owner and due date) and a closing. German calls get a German draft in the Sie form, all others
an English one. Weekday and month names are written out here, so the text never depends on the
machine's locale.

The report is taken as it is: pass the reviewed report (``assistant.store.calls.current_report``
leaves rejected items out), and the draft holds only what people kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from assistant.report import CallReport, Item, Role, spoken_language

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
}
MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}
TEMPLATES = {
    "en": {
        "subject": "Follow-up on our call",
        "subject_dated": "Follow-up on our call of {date}",
        "greeting": "Hello,",
        "greeting_named": "Hello {name},",
        "thanks": "Thank you for your time on our call.",
        "thanks_dated": "Thank you for your time on our call on {date}.",
        "needs": "What we understood from you:",
        "steps": "Next steps as agreed:",
        "rep": "We will:",
        "customer": "On your side:",
        "other": "Further steps:",
        "by": "by",
        "propose": "Shall we agree on a date for the next step? Let me know what suits you.",
        "check": "Please let me know if I missed or misunderstood anything.",
        "closing": "Best regards,",
    },
    "de": {
        "subject": "Nachbereitung unseres Gesprächs",
        "subject_dated": "Nachbereitung unseres Gesprächs vom {date}",
        "greeting": "Guten Tag,",
        "greeting_named": "Guten Tag {name},",
        "thanks": "vielen Dank für Ihre Zeit und das Gespräch.",
        "thanks_dated": "vielen Dank für Ihre Zeit und das Gespräch am {date}.",
        "needs": "Das haben wir aus dem Gespräch mitgenommen:",
        "steps": "Die nächsten Schritte, wie besprochen:",
        "rep": "Von unserer Seite:",
        "customer": "Von Ihrer Seite:",
        "other": "Weitere Schritte:",
        "by": "bis",
        "propose": (
            "Wollen wir einen Termin für den nächsten Schritt vereinbaren? "
            "Teilen Sie mir gern mit, was Ihnen passt."
        ),
        "check": (
            "Falls ich etwas vergessen oder falsch verstanden habe, geben Sie mir bitte Bescheid."
        ),
        "closing": "Mit freundlichen Grüßen",
    },
}
ROLE_WORDS: tuple[Role, ...] = ("rep", "customer")
# Diarization labels ("SPEAKER_00", "S1") and role words are not names to greet or sign with.
_NOT_A_NAME = re.compile(r"\d|^(speaker|sprecher|spk|unknown|rep|customer)\b", re.IGNORECASE)


@dataclass(frozen=True)
class EmailDraft:
    """A draft email: ``subject`` and ``body`` in ``language`` (``en`` or ``de``)."""

    subject: str
    body: str
    language: str

    @property
    def text(self) -> str:
        return f"Subject: {self.subject}\n\n{self.body}"


def format_date(day: date, language: str, weekday: bool = True) -> str:
    """``Friday, 11 December 2026`` or ``Freitag, 11. Dezember 2026``; without the weekday,
    ``11 December 2026`` or ``11. Dezember 2026``."""
    lang = "de" if language == "de" else "en"
    month = MONTHS[lang][day.month - 1]
    text = f"{day.day}. {month} {day.year}" if lang == "de" else f"{day.day} {month} {day.year}"
    return f"{WEEKDAYS[lang][day.weekday()]}, {text}" if weekday else text


def draft_email(
    report: CallReport, *, sender: str | None = None, customer: str | None = None
) -> EmailDraft:
    """A follow-up email to the customer of ``report``.

    ``sender`` signs the email and ``customer`` is greeted by name; each defaults to the one
    named rep or customer of the call, and is left out when the call names none (or several).
    Sections without content are left out; when no next step has a due date, a line proposes
    to agree one.
    """
    language = _language(report)
    t = TEMPLATES[language]
    sender = (sender if sender is not None else _named(report, "rep") or "").strip()
    customer = (customer if customer is not None else _named(report, "customer") or "").strip()
    when = report.call_date

    if when is None:
        subject, thanks = t["subject"], t["thanks"]
    else:
        subject = t["subject_dated"].format(date=format_date(when, language, weekday=False))
        thanks = t["thanks_dated"].format(date=format_date(when, language))
    lines = [t["greeting_named"].format(name=customer) if customer else t["greeting"], ""]
    lines += [thanks, ""]

    needs = _unique(item.text for item in report.items if item.kind == "customer_need")
    if needs:
        lines += [t["needs"], *(f"- {need}" for need in needs), ""]

    steps = _unique_steps([item for item in report.items if item.kind == "action_item"])
    if steps:
        lines += _steps_section(report, steps, language)
    if not any(step.due for step in steps):
        lines += [t["propose"], ""]

    lines += [t["check"], "", t["closing"]]
    if sender:
        lines.append(sender)
    return EmailDraft(subject=subject, body="\n".join(lines) + "\n", language=language)


def _language(report: CallReport) -> str:
    language = report.language or spoken_language(report.segments)
    return "de" if language and language.lower().startswith("de") else "en"


def _is_name(name: str | None) -> bool:
    return bool(name and name.strip() and not _NOT_A_NAME.search(name.strip()))


def _roles(report: CallReport) -> dict[str, Role]:
    """{speaker name or label: role} from the segments (which carry names people gave) and the
    speakers."""
    roles: dict[str, Role] = {}
    for speaker in report.speakers:
        if speaker.role is not None:
            for name in (speaker.id, speaker.name):
                if name:
                    roles[name] = speaker.role
    for seg in report.segments:
        if seg.speaker and seg.role is not None:
            roles[seg.speaker] = seg.role
    return roles


def _named(report: CallReport, role: Role) -> str | None:
    names = {name.strip() for name, r in _roles(report).items() if r == role and _is_name(name)}
    return names.pop() if len(names) == 1 else None


def _key(text: str) -> str:
    return " ".join(text.casefold().rstrip(".!?;: ").split())


def _unique(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for text in texts:
        clean = " ".join(text.split())
        if clean and _key(clean) not in seen:
            seen.add(_key(clean))
            out.append(clean)
    return out


def _unique_steps(items: list[Item]) -> list[Item]:
    seen: set[tuple[str, str, date | None]] = set()
    out = []
    for item in items:
        key = (_key(item.text), (item.owner or "").casefold(), item.due)
        if key[0] and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _owner_role(owner: str | None, roles: dict[str, Role]) -> Role | None:
    if not owner:
        return None
    if owner in ROLE_WORDS:
        return "rep" if owner == "rep" else "customer"
    return roles.get(owner)


def _steps_section(report: CallReport, steps: list[Item], language: str) -> list[str]:
    t = TEMPLATES[language]
    roles = _roles(report)
    groups: dict[Role | None, list[str]] = {"rep": [], "customer": [], None: []}
    for step in steps:
        groups[_owner_role(step.owner, roles)].append(_step_line(step, language))
    if not groups["rep"] and not groups["customer"]:
        return [t["steps"], *groups[None], ""]
    headings: dict[Role | None, str] = {
        "rep": t["rep"],
        "customer": t["customer"],
        None: t["other"],
    }
    lines = [t["steps"], ""]
    for role, heading in headings.items():
        if groups[role]:
            lines += [heading, *groups[role], ""]
    return lines


def _step_line(step: Item, language: str) -> str:
    """``- <text> (<owner>, by <due date>)``: the owner left out when it is only a role (the
    heading says it) or the text already starts with it, the deadline's words left out of the
    text when the exact date follows."""
    text = " ".join(step.text.split()).rstrip(". ")
    if step.due and step.due_text:
        tail = re.compile(rf"[,\s]*\b{re.escape(step.due_text.strip())}$", re.IGNORECASE)
        shorter = tail.sub("", text)
        if shorter:
            text = shorter
    detail = []
    owner = (step.owner or "").strip()
    if owner and owner not in ROLE_WORDS and not re.match(rf"{re.escape(owner)}\b", text, re.I):
        detail.append(owner)
    if step.due:
        detail.append(f"{TEMPLATES[language]['by']} {format_date(step.due, language)}")
    return f"- {text} ({', '.join(detail)})" if detail else f"- {text}"
