"""Customer accounts: every call with one customer in one place.

The free-text customer of an upload names an account of the owner's team: "ACME  GmbH" and
"Acme GmbH" are one account (``fold``). A manager renames accounts and merges two spellings
of one customer; whoever may see a call may move it to another account. An account is visible
to a user who may see at least one of its calls, and then shows only those calls: a rep sees
their own calls with a customer, a manager the team's. Anything else is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer, selectinload

from assistant.errors import OptionError
from assistant.store.access import visible
from assistant.store.errors import ConflictError, ForbiddenError, NotFoundError
from assistant.store.tables import Account, Call, User, WarningDismissal, utcnow


def clean(name: str) -> str:
    """The name as shown: spacing collapsed, case kept."""
    return " ".join(name.split())


def fold(name: str) -> str:
    """What makes two spellings one customer: case and spacing folded."""
    return clean(name).casefold()


def team_of(user: User) -> str:
    return user.team or ""


def account_for(session: Session, owner: User, customer: str) -> Account | None:
    """The account of ``owner``'s team named ``customer`` (made if new); None for no name."""
    name = clean(customer)
    if not name:
        return None
    team = team_of(owner)
    query = select(Account).where(Account.team == team, Account.key == fold(name))
    account = session.scalar(query)
    if account is not None:
        return account
    # Another upload may make the same account right now: the insert yields to it.
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgres_insert
    made = insert(Account).values(team=team, name=name, key=fold(name), created_at=utcnow())
    session.execute(made.on_conflict_do_nothing(index_elements=["team", "key"]))
    return session.scalars(query).one()


def visible_account(user: User) -> ColumnElement[bool]:
    """The condition on ``Account``: the user may see one of its calls."""
    return Account.id.in_(select(Call.account_id).where(visible(user)))


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    calls: int
    first_day: date | None
    last_day: date | None


def _day() -> ColumnElement[date]:
    return func.coalesce(Call.call_date, func.date(Call.created_at))


def list_accounts(
    session: Session,
    user: User,
    q: str | None = None,
    offset: int = 0,
    limit: int = 100,
    account_id: int | None = None,
) -> tuple[list[AccountSummary], int]:
    """The accounts ``user`` may see (those whose name contains ``q``; only ``account_id`` if
    given), the latest call first, with how many of their calls the user sees; and how many
    match in all."""
    day = _day()
    per_account = (
        select(
            Call.account_id.label("account_id"),
            func.count(Call.id).label("calls"),
            func.min(day).label("first_day"),
            func.max(day).label("last_day"),
        )
        .where(visible(user), Call.account_id.is_not(None))
        .group_by(Call.account_id)
        .subquery()
    )
    query = select(Account, per_account.c.calls, per_account.c.first_day, per_account.c.last_day)
    query = query.join(per_account, per_account.c.account_id == Account.id)
    if q:
        query = query.where(Account.key.contains(fold(q), autoescape=True))
    if account_id is not None:
        query = query.where(Account.id == account_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(per_account.c.last_day.desc(), Account.id.desc()).offset(offset).limit(limit)
    ).all()
    return [
        AccountSummary(a, n, _as_date(first), _as_date(last)) for a, n, first, last in rows
    ], total


def summary(session: Session, user: User, account: Account) -> AccountSummary:
    rows, _ = list_accounts(session, user, account_id=account.id)
    return rows[0] if rows else AccountSummary(account, 0, None, None)


def _as_date(value: date | str | None) -> date | None:
    # SQLite's date() is a string
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def get_account(session: Session, user: User, account_id: int) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id, visible_account(user)))
    if account is None:
        raise NotFoundError(f"No customer {account_id}")
    return account


def account_calls(session: Session, user: User, account: Account) -> list[Call]:
    """The account's calls ``user`` may see, oldest first."""
    return list(
        session.scalars(
            select(Call)
            .where(Call.account_id == account.id, visible(user))
            .options(selectinload(Call.owner), defer(Call.report))
            .order_by(_day(), Call.created_at, Call.id)
        )
    )


def _check_manager(user: User, account: Account) -> None:
    if user.role == "admin":
        return
    if user.role != "manager":
        raise ForbiddenError("Renaming and merging customers needs the role manager or admin")
    if team_of(user) != account.team:
        raise NotFoundError(f"No customer {account.id}")


def _name_calls(session: Session, account: Account) -> None:
    session.execute(
        update(Call)
        .where(Call.account_id == account.id)
        .values(customer=account.name, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


def rename_account(session: Session, user: User, account: Account, name: str) -> Account:
    """A new name for the account and every call in it; a name another account of the team
    has already is a conflict (merge the two instead)."""
    _check_manager(user, account)
    name = clean(name)
    if not name:
        raise OptionError("A customer needs a name")
    other = session.scalar(
        select(Account).where(
            Account.team == account.team, Account.key == fold(name), Account.id != account.id
        )
    )
    if other is not None:
        raise ConflictError(
            f"Customer {other.id} is already called {other.name!r}; merge the two instead"
        )
    account.name, account.key = name, fold(name)
    _name_calls(session, account)
    session.flush()
    return account


def merge_accounts(
    session: Session, user: User, target: Account, sources: list[Account]
) -> Account:
    """Move every call (and dismissed warning) of ``sources`` into ``target``; the sources go."""
    _check_manager(user, target)
    for source in sources:
        _check_manager(user, source)
        if source.id == target.id:
            raise OptionError(f"Customer {source.id} cannot be merged into itself")
        if source.team != target.team:
            raise OptionError("Customers of different teams cannot be merged")
    ids = [s.id for s in sources]
    session.execute(
        update(Call)
        .where(Call.account_id.in_(ids))
        .values(account_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    kept = {
        (d.kind, d.subject)
        for d in session.scalars(
            select(WarningDismissal).where(WarningDismissal.account_id == target.id)
        )
    }
    for d in session.scalars(select(WarningDismissal).where(WarningDismissal.account_id.in_(ids))):
        if (d.kind, d.subject) in kept:
            session.delete(d)
        else:
            d.account_id = target.id
            kept.add((d.kind, d.subject))
    session.flush()
    session.execute(delete(Account).where(Account.id.in_(ids)))
    _name_calls(session, target)
    session.flush()
    return target


def move_call(session: Session, call: Call, customer: str) -> Account | None:
    """Put a call with the customer named ``customer`` (an account of its owner's team, made if
    new); an empty name takes it out of any account. An account left without calls goes."""
    before = call.account_id
    account = account_for(session, call.owner, customer)
    call.account_id = account.id if account else None
    call.customer = account.name if account else ""
    session.flush()
    if before is not None and before != call.account_id:
        left = session.scalar(select(func.count(Call.id)).where(Call.account_id == before))
        if not left:
            session.execute(delete(Account).where(Account.id == before))
    return account


def dismissals(session: Session, account: Account) -> dict[tuple[str, str], WarningDismissal]:
    rows = session.scalars(
        select(WarningDismissal).where(WarningDismissal.account_id == account.id)
    )
    return {(d.kind, d.subject): d for d in rows}


def dismiss_warning(
    session: Session, user: User, account: Account, kind: str, subject: str, reason: str
) -> WarningDismissal:
    """Dismiss one warning of the account with a reason; dismissing it again updates the reason."""
    reason = reason.strip()
    if not reason:
        raise OptionError("Say why the warning is dismissed (reason)")
    row = dismissals(session, account).get((kind, subject))
    if row is None:
        row = WarningDismissal(account_id=account.id, kind=kind, subject=subject)
        session.add(row)
    row.reason, row.user_id, row.at = reason, user.id, utcnow()
    session.flush()
    return row
