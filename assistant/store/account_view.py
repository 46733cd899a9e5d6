"""What a customer's page shows: the calls on a timeline, each need and objection theme with
when it was first and last raised, the open action items, what is new since the last call,
and the warnings worth a look. Everything is read with the viewer's visibility and links to
its moment (call id and second).

Themes are the insights page's (``assistant.store.insights``: the same stored embeddings and
grouping), restricted to the account's calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from assistant.store import accounts, followups, insights
from assistant.store.calls import current_reports, item_counts
from assistant.store.followups import FollowUp
from assistant.store.tables import Account, Call, User
from assistant.warnings import DealWarning, WarningSettings, account_warnings


def call_day(call: Call) -> date:
    return call.call_date or call.created_at.date()


@dataclass(frozen=True)
class TimelineCall:
    id: int
    title: str
    day: date
    rep: str
    status: str
    duration_s: float | None
    items: dict[str, int]


@dataclass(frozen=True)
class ThemeMoment:
    item_id: int
    call_id: int
    call_title: str
    day: date
    start_s: float
    quote: str


@dataclass(frozen=True)
class AccountTheme:
    kind: str
    label: str
    moments: list[ThemeMoment]
    new: bool  # first raised in the latest call

    @property
    def calls(self) -> int:
        return len({m.call_id for m in self.moments})

    @property
    def first(self) -> ThemeMoment:
        return self.moments[0]

    @property
    def last(self) -> ThemeMoment:
        return self.moments[-1]


@dataclass(frozen=True)
class ShownWarning:
    warning: DealWarning
    subject: str
    dismissed_reason: str | None = None
    dismissed_by: str | None = None


@dataclass
class AccountView:
    account: Account
    calls: list[TimelineCall]
    themes: list[AccountTheme]
    follow_ups: list[FollowUp]
    warnings: list[ShownWarning]
    dismissed: list[ShownWarning]
    pending: int = 0  # items whose theme is not known yet (embedding still to compute)
    new_items: list[FollowUp] = field(default_factory=list)

    @property
    def latest(self) -> TimelineCall | None:
        return self.calls[-1] if self.calls else None


def subject_of(warning: DealWarning) -> str:
    """What a warning is about, for dismissing it: the calls its moments are in (a warning of
    the same kind about a later call shows again)."""
    calls = sorted({m.call_id for m in warning.moments})
    return ",".join(map(str, calls))[:100]


def _themes(
    session: Session, user: User, account: Account, latest: int | None
) -> tuple[list[AccountTheme], int]:
    themes: list[AccountTheme] = []
    pending = 0
    for kind in insights.INSIGHT_KINDS:
        found = insights.moments(session, user, kind, account_id=account.id)
        insights.embed_some_missing(session, found)
        pending += insights.pending(found)
        for theme in insights.group(found):
            moments = sorted(
                (
                    ThemeMoment(
                        m.item.id,
                        m.call.id,
                        m.call.title,
                        m.call.call_date or m.call.created_at.date(),
                        m.item.start_s,
                        m.item.quote or m.item.text,
                    )
                    for m in theme.moments
                ),
                key=lambda m: (m.day, m.call_id, m.start_s),
            )
            new = latest is not None and all(m.call_id == latest for m in moments)
            themes.append(AccountTheme(kind, theme.label, moments, new))
    return themes, pending


def account_view(
    session: Session,
    user: User,
    account: Account,
    today: date,
    settings: WarningSettings | None = None,
) -> AccountView:
    calls = accounts.account_calls(session, user, account)
    counts = item_counts(session, [c.id for c in calls])
    timeline = [
        TimelineCall(
            c.id,
            c.title or c.filename,
            call_day(c),
            c.owner.name,
            c.status,
            c.duration_s,
            dict(counts[c.id]),
        )
        for c in calls
    ]
    done = [c for c in calls if c.status == "done"]
    latest = done[-1].id if len(done) > 1 else None
    themes, pending = _themes(session, user, account, latest)
    open_items = followups.follow_ups(session, user, today, account_id=account.id)
    shown, dismissed = shown_warnings(session, user, account, settings, done)
    return AccountView(
        account,
        timeline,
        themes,
        open_items,
        shown,
        dismissed,
        pending,
        new_items=[f for f in open_items if latest is not None and f.call_id == latest],
    )


def shown_warnings(
    session: Session,
    user: User,
    account: Account,
    settings: WarningSettings | None = None,
    done: list[Call] | None = None,
) -> tuple[list[ShownWarning], list[ShownWarning]]:
    """The account's warnings from the reports of its analysed calls (``done``, oldest first;
    read if not given): those shown, and those dismissed with who and why."""
    if done is None:
        done = [c for c in accounts.account_calls(session, user, account) if c.status == "done"]
    reports = current_reports(session, [c.id for c in done])
    shown, dismissed = [], []
    kept = accounts.dismissals(session, account)
    for warning in account_warnings(reports, settings or WarningSettings()):
        subject = subject_of(warning)
        row = kept.get((warning.kind, subject))
        if row is None:
            shown.append(ShownWarning(warning, subject))
        else:
            who = row.user.name if row.user else None
            dismissed.append(ShownWarning(warning, subject, row.reason, who))
    return shown, dismissed
