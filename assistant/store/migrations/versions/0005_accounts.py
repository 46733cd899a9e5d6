"""Customers become accounts; action items can be done; warnings can be dismissed.

Every call that names a customer joins the account of its owner's team with that name, case
and spacing folded; the first spelling met (by call id) names the account and every call in it.
Calls without a customer stay without an account.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:10:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _fold(name: str) -> str:
    # the same rule as assistant.store.accounts.fold, written out: a migration never changes
    return " ".join(name.split()).casefold()


def add_reference(table: str, column: str, target: str, ondelete: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
            f"REFERENCES {target} (id) ON DELETE {ondelete}"
        )
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_foreign_key(
        f"fk_{table}_{column}_{target}", table, target, [column], ["id"], ondelete=ondelete
    )


def upgrade() -> None:
    accounts = op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "key", name="uq_accounts_team_key"),
    )
    op.create_table(
        "warning_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_warning_dismissals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_warning_dismissals_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "kind", "subject", name="uq_dismissals_warning"),
    )
    with op.batch_alter_table("warning_dismissals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_warning_dismissals_account_id"), ["account_id"], unique=False
        )
    # Columns are added in place, never by copying a table: SQLite's batch mode drops and
    # re-creates the table, and with foreign keys on, dropping ``calls`` or ``items`` cascades
    # to every row that references them. SQLite takes a reference in ADD COLUMN itself.
    add_reference("calls", "account_id", "accounts", "SET NULL")
    op.create_index(op.f("ix_calls_account_id"), "calls", ["account_id"], unique=False)
    op.add_column("items", sa.Column("done_at", sa.DateTime(), nullable=True))
    add_reference("items", "done_by_id", "users", "SET NULL")
    op.add_column("items", sa.Column("overdue_sent_at", sa.DateTime(), nullable=True))

    connection = op.get_bind()
    calls = sa.table(
        "calls",
        sa.column("id", sa.Integer),
        sa.column("owner_id", sa.Integer),
        sa.column("customer", sa.String),
        sa.column("account_id", sa.Integer),
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("team", sa.String))
    rows = connection.execute(
        sa.select(calls.c.id, calls.c.customer, users.c.team)
        .join(users, users.c.id == calls.c.owner_id)
        .order_by(calls.c.id)
    ).all()
    made: dict[tuple[str, str], tuple[int, str]] = {}
    now = datetime.now(UTC).replace(tzinfo=None)
    for call_id, customer, team in rows:
        name = " ".join((customer or "").split())
        if not name:
            continue
        key = (team or "", _fold(name))
        if key not in made:
            account_id = connection.execute(
                sa.insert(accounts)
                .values(team=key[0], name=name, key=key[1], created_at=now)
                .returning(accounts.c.id)
            ).scalar_one()
            made[key] = (account_id, name)
        account_id, shown = made[key]
        connection.execute(
            sa.update(calls)
            .where(calls.c.id == call_id)
            .values(account_id=account_id, customer=shown)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # dropping a referencing column needs a table copy, which would cascade (see upgrade)
        raise NotImplementedError("0005 cannot be undone on SQLite; restore a backup instead")
    op.drop_constraint("fk_items_done_by_id_users", "items", type_="foreignkey")
    op.drop_column("items", "overdue_sent_at")
    op.drop_column("items", "done_by_id")
    op.drop_column("items", "done_at")
    op.drop_constraint("fk_calls_account_id_accounts", "calls", type_="foreignkey")
    op.drop_index(op.f("ix_calls_account_id"), table_name="calls")
    op.drop_column("calls", "account_id")
    op.drop_table("warning_dismissals")
    op.drop_table("accounts")
