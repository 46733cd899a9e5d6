"""Warnings worth a look for a customer account (all calls with one customer), or for one call.

Pure functions over finished ``CallReport`` objects: no database, no models, no settings. Each
warning says in one sentence what a sales manager should look at, and carries the moments (call
id, start second, quote) that support it, so a page can play the audio there.

Kinds (stable strings; at most one warning of each kind per account or per call):

=========================  ===================================================================
``no_next_step``           the latest call has no action item with a due date; moments: its
                           action items without a date, if any
``objection_unanswered``   a customer objection after which the rep said nothing substantive
                           (``min_answer_words`` words or more) within ``answer_turns`` turns
``competitor_named``       the ``competitors`` tracker found a name, or an objection has the
                           category ``competitor``; moments: each hit
``pricing_not_discussed``  ``pricing_after_calls`` calls or more, and no pricing talk in any
                           (no ``pricing`` tracker hit, no ``price`` objection)
``single_contact``         one person on the customer side, across ``single_contact_after_calls``
                           calls or more
``low_customer_talk``      the customer's share of talk time is below ``min_customer_talk``;
                           moment: the rep's longest monologue in that call
``pricing_discussed``      informational (see ``INFORMATIONAL_KINDS``): where pricing came up,
                           the first moment per call, so a manager can jump to what was said
=========================  ===================================================================

Only what the reports hold is used: the tracker hits (``assistant.trackers``), the talk ratio per
role (``assistant.metrics``), the items, speakers and segments. Where a report cannot tell (roles
not known, the trackers were not run on a call), the warning that needs it stays quiet rather
than guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from assistant.metrics import count_words, turns
from assistant.report import CallReport, Item, Segment

KINDS = (
    "no_next_step",
    "objection_unanswered",
    "competitor_named",
    "pricing_not_discussed",
    "single_contact",
    "low_customer_talk",
    "pricing_discussed",
)
# Kinds that inform rather than warn: a page may show them apart (or not at all).
INFORMATIONAL_KINDS = frozenset({"pricing_discussed"})

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Moment:
    call_id: int
    start_s: float
    quote: str


@dataclass(frozen=True)
class DealWarning:
    kind: str
    message: str
    moments: tuple[Moment, ...] = ()


@dataclass(frozen=True)
class WarningSettings:
    """The thresholds of the warnings."""

    # "pricing never discussed" once the account has this many calls
    pricing_after_calls: int = 2
    # the customer spoke less than this share of the talk time
    min_customer_talk: float = 0.30
    # an objection is answered when the rep replies within this many following turns ...
    answer_turns: int = 2
    # ... with a turn of at least this many words ("Hm, okay." is no answer)
    min_answer_words: int = 6
    # "one person on the customer side" once the account has this many calls
    single_contact_after_calls: int = 2


Call = tuple[int, CallReport]


def account_warnings(
    calls: Sequence[tuple[int, CallReport]], settings: WarningSettings = WarningSettings()
) -> list[DealWarning]:
    """The warnings of a customer account: ``calls`` are (call id, report) pairs.

    The latest call is the one with the latest ``call_date`` when every report has one, else the
    last one given (pass them oldest first). Warnings come in the order of ``KINDS``.
    """
    ordered = _in_order(calls)
    if not ordered:
        return []
    found = [
        _no_next_step(*ordered[-1], "the last call"),
        _objections_unanswered(ordered, settings),
        _competitors_named(ordered),
        _pricing(ordered, settings),
        _single_contact(ordered, settings),
        _low_customer_talk(ordered, settings),
    ]
    return _sorted(w for w in found if w is not None)


def call_warnings(
    call_id: int, report: CallReport, settings: WarningSettings = WarningSettings()
) -> list[DealWarning]:
    """The warnings of one call: the kinds that one call can show (no next step, unanswered
    objections, competitors, low customer talk); the account-wide kinds need the account."""
    calls = [(call_id, report)]
    found = [
        _no_next_step(call_id, report, "this call"),
        _objections_unanswered(calls, settings),
        _competitors_named(calls),
        _low_customer_talk(calls, settings),
    ]
    return _sorted(w for w in found if w is not None)


def _sorted(found: Iterable[DealWarning]) -> list[DealWarning]:
    return sorted(found, key=lambda w: KINDS.index(w.kind))


def _in_order(calls: Sequence[Call]) -> list[Call]:
    if all(report.call_date is not None for _, report in calls):
        return sorted(calls, key=lambda c: c[1].call_date or date.min)  # stable: ties keep order
    return list(calls)


def _day(day: date | None) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]}" if day else ""


def _which_call(call_id: int, report: CallReport) -> str:
    return f"the call of {_day(report.call_date)}" if report.call_date else f"call {call_id}"


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"


def _in_calls(n: int, total: int) -> str:
    if total == 1:
        return ""
    return " in every call" if n == total else f" in {n} of {total} calls"


# --- no next step -------------------------------------------------------------------------


def _no_next_step(call_id: int, report: CallReport, which: str) -> DealWarning | None:
    actions = [i for i in report.items if i.kind == "action_item"]
    if any(i.due is not None for i in actions):
        return None
    when = f" ({_day(report.call_date)})" if report.call_date else ""
    if actions:
        n = len(actions)
        message = (
            f"No dated next step in {which}{when}: "
            f"{n} action item{'s' if n > 1 else ''} without a date."
        )
    else:
        message = f"No next step agreed in {which}{when}."
    return DealWarning("no_next_step", message, tuple(_item_moment(call_id, i) for i in actions))


def _item_moment(call_id: int, item: Item) -> Moment:
    return Moment(call_id, item.start_s, item.quote)


# --- objections --------------------------------------------------------------------------


def _objections_unanswered(calls: Sequence[Call], settings: WarningSettings) -> DealWarning | None:
    moments = [
        _item_moment(call_id, item)
        for call_id, report in calls
        for item in _unanswered(report, settings)
    ]
    if not moments:
        return None
    n = len(moments)
    if n == 1:
        message = "A customer objection got no answer from the rep."
    else:
        message = f"{n} customer objections got no answer from the rep."
    return DealWarning("objection_unanswered", message, tuple(moments))


def _unanswered(report: CallReport, settings: WarningSettings) -> list[Item]:
    """Customer objections with no rep turn of ``min_answer_words`` words or more among the
    ``answer_turns`` turns after the turn the objection ends in (turns as ``assistant.metrics``
    defines them). Objections whose speaker's role is not known are left out: no one can say
    who should have answered."""
    objections = [i for i in report.items if i.kind == "objection" and i.role == "customer"]
    if not objections:
        return []
    segments = sorted(report.segments, key=lambda s: (s.start_s, s.end_s))
    spans = turns(segments)
    # Each turn's segments (a turn is one speaker's run; both lists are in time order).
    members: list[list[Segment]] = [[] for _ in spans]
    t = 0
    for segment in segments:
        who = segment.speaker or "unknown"
        while t + 1 < len(spans) and not (
            spans[t].speaker == who and spans[t].start_s <= segment.start_s <= spans[t].end_s
        ):
            t += 1
        members[t].append(segment)
    by_id = {s.id: n for n, turn in enumerate(members) for s in turn}

    unanswered = []
    for item in objections:
        own = [by_id[i] for i in item.segment_ids if i in by_id]
        if own:
            last = max(own)
        else:
            ends = [n for n, span in enumerate(spans) if span.start_s <= item.end_s]
            last = ends[-1] if ends else 0
        following = members[last + 1 : last + 1 + settings.answer_turns]
        if not any(_is_answer(turn, settings) for turn in following):
            unanswered.append(item)
    return unanswered


def _is_answer(turn: list[Segment], settings: WarningSettings) -> bool:
    return any(s.role == "rep" for s in turn) and (
        sum(count_words(s) for s in turn) >= settings.min_answer_words
    )


# --- trackers: competitors and pricing ----------------------------------------------------


def _tracker(report: CallReport, name: str) -> dict[str, object] | None:
    return next((t for t in report.trackers if t.get("name") == name), None)


def _hits(
    call_id: int, report: CallReport, name: str, customer_side: bool = False
) -> list[tuple[Moment, str]]:
    """The tracker's moments in this call, with the term said; only those not said by the rep
    if ``customer_side``."""
    tracker = _tracker(report, name)
    raw = tracker.get("moments") if tracker else None
    hits = []
    for hit in raw if isinstance(raw, list) else []:
        if not isinstance(hit, dict):
            continue
        start, text, term = hit.get("start_s"), hit.get("text"), hit.get("term")
        if customer_side and hit.get("role") == "rep":
            continue
        if isinstance(start, int | float) and isinstance(text, str):
            hits.append((Moment(call_id, float(start), text), str(term or "")))
    return hits


def _unique(moments: Iterable[Moment]) -> list[Moment]:
    """One moment per start, in time order: a segment naming two terms is one moment."""
    seen: dict[float, Moment] = {}
    for moment in moments:
        seen.setdefault(moment.start_s, moment)
    return sorted(seen.values(), key=lambda m: m.start_s)


def _competitors_named(calls: Sequence[Call]) -> DealWarning | None:
    terms: dict[str, str] = {}
    moments: list[Moment] = []
    for call_id, report in calls:
        # A rep naming what their product works with ("connects to SAP") is no competitor in
        # the deal; the customer naming one is.
        hits = _hits(call_id, report, "competitors", customer_side=True)
        terms.update((term.casefold(), term) for _, term in hits if term)
        objections = [
            _item_moment(call_id, i)
            for i in report.items
            if i.kind == "objection" and i.category == "competitor"
        ]
        moments += _unique([m for m, _ in hits] + objections)
    if not moments:
        return None
    if terms:
        message = f"Competitors named: {', '.join(terms.values())}."
    else:
        message = "A competitor came up as an objection."
    return DealWarning("competitor_named", message, tuple(moments))


def _pricing(calls: Sequence[Call], settings: WarningSettings) -> DealWarning | None:
    """``pricing_discussed`` (the first pricing moment of each call where it came up) or
    ``pricing_not_discussed``; neither while a call's report cannot tell (no pricing tracker)."""
    first_per_call = []
    for call_id, report in calls:
        said = [m for m, _ in _hits(call_id, report, "pricing")]
        said += [
            _item_moment(call_id, i)
            for i in report.items
            if i.kind == "objection" and i.category == "price"
        ]
        if said:
            first_per_call.append(min(said, key=lambda m: m.start_s))
    if first_per_call:
        n, total = len(first_per_call), len(calls)
        message = f"Pricing came up{_in_calls(n, total)}."
        return DealWarning("pricing_discussed", message, tuple(first_per_call))
    known = all(_tracker(report, "pricing") is not None for _, report in calls)
    if known and len(calls) >= settings.pricing_after_calls:
        message = f"Pricing not discussed in any of the {len(calls)} calls."
        return DealWarning("pricing_not_discussed", message)
    return None


# --- who is on the customer side ----------------------------------------------------------


def _customer_side(report: CallReport) -> dict[str, str | None]:
    """Speaker label -> name of each customer-side speaker of a call (name None if unset)."""
    named = {s.id: s.name for s in report.speakers if s.role == "customer"}
    if named or report.speakers:
        return named
    return {m.speaker: None for m in report.metrics.speakers if m.role == "customer"}


def _single_contact(calls: Sequence[Call], settings: WarningSettings) -> DealWarning | None:
    """Names are the same person across calls; labels ("SPEAKER_00") are per call, so unnamed
    speakers can only say "one person on the customer side in every call"."""
    known = [(call_id, report, _customer_side(report)) for call_id, report in calls]
    known = [k for k in known if k[2]]  # calls whose roles are not known cannot tell
    if len(known) < max(1, settings.single_contact_after_calls):
        return None
    if any(len(side) > 1 for _, _, side in known):
        return None
    names: dict[str, str] = {}  # the first spelling of each name
    for *_, side in known:
        for name in side.values():
            if name and name.strip():
                names.setdefault(name.strip().casefold(), name.strip())
    if len(names) > 1:
        return None
    moments = []
    for call_id, report, side in known:
        label = next(iter(side))
        first = next((s for s in report.segments if s.speaker == label), None)
        if first is not None:
            moments.append(Moment(call_id, first.start_s, first.text))
    unnamed = any(n is None for *_, side in known for n in side.values())
    counted = _calls(len(known))
    if names and not unnamed:
        who = next(iter(names.values()))
        message = f"{who} is the only contact on the customer side ({counted})."
    else:
        message = f"One person on the customer side in every call ({counted})."
    return DealWarning("single_contact", message, tuple(moments))


# --- talk time ----------------------------------------------------------------------------


def _low_customer_talk(calls: Sequence[Call], settings: WarningSettings) -> DealWarning | None:
    low: list[tuple[float, int, CallReport]] = []
    measured = 0
    for call_id, report in calls:
        customer = report.metrics.roles.get("customer")
        if customer is None or report.metrics.talk_s <= 0:
            continue  # roles not known: the share cannot be told
        measured += 1
        if customer.talk_ratio < settings.min_customer_talk:
            low.append((customer.talk_ratio, call_id, report))
    if not low:
        return None
    least, call_id, report = min(low, key=lambda c: c[0])
    limit = _percent(settings.min_customer_talk)
    if len(low) == 1:
        where = "" if len(calls) == 1 else f" in {_which_call(call_id, report)}"
        message = f"The customer spoke {_percent(least)} of the time{where} (below {limit})."
    else:
        message = (
            f"The customer spoke less than {limit} of the time{_in_calls(len(low), measured)} "
            f"(least: {_percent(least)}, {_which_call(call_id, report)})."
        )
    moments = [m for _, call_id, report in low if (m := _rep_monologue(call_id, report))]
    return DealWarning("low_customer_talk", message, tuple(moments))


def _rep_monologue(call_id: int, report: CallReport) -> Moment | None:
    """Where the rep's longest monologue starts: what the customer was listening to."""
    rep = report.metrics.roles.get("rep")
    if rep is None or rep.longest_monologue_start_s is None:
        return None
    start = rep.longest_monologue_start_s
    segment = min(
        (s for s in report.segments if s.role == "rep"),
        key=lambda s: abs(s.start_s - start),
        default=None,
    )
    return Moment(call_id, start, segment.text if segment else "")
