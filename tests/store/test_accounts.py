"""Customer accounts in the store, on real databases: the migration that makes accounts from the
calls stored before it, and the folding of spellings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from assistant.store import Database
from assistant.store.accounts import fold
from assistant.store.tables import Account, Call, User


def test_fold_ignores_case_and_spacing_only() -> None:
    assert fold("  ACME \t GmbH ") == fold("acme gmbh") == "acme gmbh"
    assert fold("Straße AG") == fold("STRASSE ag")  # casefold, as German spellings need
    assert fold("Acme GmbH") != fold("Acme AG")


def test_migration_makes_accounts_from_existing_calls(db: Database) -> None:
    db.migrate("0004")
    now = datetime(2026, 3, 2, 10, 0)
    customers = {
        "anna": ["Acme GmbH", "  ACME   gmbh", "", "Globex"],
        "ben": ["acme gmbh"],  # same team as anna
        "cleo": ["Acme GmbH"],  # another team
    }
    teams = {"anna": "east", "ben": "east", "cleo": "west"}
    with db.engine.begin() as conn:
        n = 0
        for name, names in customers.items():
            user_id = conn.execute(
                insert(User.__table__).values(
                    name=name, role="rep", team=teams[name], created_at=now
                )
            ).inserted_primary_key[0]
            for customer in names:
                n += 1
                conn.execute(
                    insert(Call.__table__).values(
                        owner_id=user_id,
                        title=f"call {n}",
                        customer=customer,
                        filename="a.m4a",
                        sha256=f"{n:064x}",
                        media_format="wav",
                        media_kind="audio",
                        size_bytes=1,
                        status="done",
                        overview="",
                        created_at=now,
                        updated_at=now,
                    )
                )

    db.migrate()  # 0004 -> newest
    with db.session() as session:
        accounts = session.scalars(select(Account).order_by(Account.id)).all()
        assert [(a.team, a.name, a.key) for a in accounts] == [
            ("east", "Acme GmbH", "acme gmbh"),
            ("east", "Globex", "globex"),
            ("west", "Acme GmbH", "acme gmbh"),
        ]
        calls = session.execute(
            select(Call.title, Call.customer, Call.account_id).order_by(Call.id)
        )
        by_title = {title: (customer, account) for title, customer, account in calls}
    east, globex, west = (a.id for a in accounts)
    assert by_title == {
        "call 1": ("Acme GmbH", east),
        "call 2": ("Acme GmbH", east),
        "call 3": ("", None),
        "call 4": ("Globex", globex),
        "call 5": ("Acme GmbH", east),
        "call 6": ("Acme GmbH", west),
    }

    # the reference the migration added holds: a deleted account leaves its calls
    with db.engine.begin() as conn:
        conn.execute(delete(Account.__table__).where(Account.id == globex))
    with db.session() as session:
        assert session.scalar(select(Call.account_id).where(Call.title == "call 4")) is None


def test_reports_read_in_bulk_are_the_reports_read_one_by_one(db: Database) -> None:
    """The customer page reads its calls' reviewed reports in bulk (current_reports); they are
    the reports each call's page shows (current_report), review applied."""
    from assistant.store.calls import current_report, current_reports
    from assistant.store.tables import Item, Speaker
    from assistant.store.users import create_user
    from tests.helpers import seed_acme

    db.migrate()
    with db.session() as session:
        for name in ("alice", "bob", "carol"):
            create_user(session, name, "rep", "west" if name == "carol" else "east")
    calls = seed_acme(db)
    with db.session() as session:
        session.scalars(select(Speaker).where(Speaker.label == "S2")).first().name = "Sarah"  # type: ignore[union-attr]
        rejected = session.scalars(select(Item).where(Item.kind == "objection")).first()
        assert rejected is not None
        rejected.review = "rejected"
    with db.session() as session:
        ids = list(calls.values())
        bulk = dict(current_reports(session, ids))
        for call_id in ids:
            one = current_report(session.get_one(Call, call_id))
            assert one is not None and bulk[call_id] == one  # these reports have no words
        assert "Sarah" in {s.speaker for s in bulk[calls["first"]].segments}
        assert all(i.id != rejected.id for r in bulk.values() for i in r.items)
