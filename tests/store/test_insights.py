"""Insights in the store: the migration that adds item embeddings (on real databases), filling
in the missing ones, and grouping that stays bounded whatever the threshold."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import insert, inspect, select

from assistant.store import Database
from assistant.store.insights import (
    MAX_THEMES,
    Moment,
    MomentCall,
    MomentItem,
    embed,
    embed_missing,
    from_bytes,
    group,
    leaders,
    pending,
    to_bytes,
)
from assistant.store.tables import Call, Item, User


def test_migration_adds_embeddings_and_keeps_items(db: Database) -> None:
    db.migrate("0001")
    assert "embedding" not in {c["name"] for c in inspect(db.engine).get_columns("items")}
    now = datetime(2026, 3, 2, 10, 0)
    texts = ["We need single sign-on", "Is there an API?", "Send the offer"]
    with db.engine.begin() as conn:
        user_id = conn.execute(
            insert(User.__table__).values(name="anna", role="rep", created_at=now)
        ).inserted_primary_key[0]
        call_id = conn.execute(
            insert(Call.__table__).values(
                owner_id=user_id,
                title="",
                customer="",
                filename="a.m4a",
                sha256="a" * 64,
                media_format="wav",
                media_kind="audio",
                size_bytes=1,
                status="done",
                overview="",
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        for n, (kind, text) in enumerate(
            zip(["customer_need", "customer_need", "action_item"], texts, strict=True)
        ):
            conn.execute(
                insert(Item.__table__).values(
                    call_id=call_id,
                    position=n,
                    kind=kind,
                    text=text,
                    quote=text,
                    start_s=0.0,
                    end_s=1.0,
                    confidence=0.9,
                    segment_ids=[],
                    origin="model",
                    review="unreviewed",
                    edited=False,
                )
            )

    db.migrate()  # 0001 -> newest
    with db.session() as session:
        rows = session.execute(select(Item.text, Item.embedding).order_by(Item.id)).all()
        assert [r.text for r in rows] == texts
        assert all(r.embedding is None for r in rows)  # filled in lazily, not by the migration
        assert embed_missing(session, limit=1) == 1
        assert embed_missing(session) == 1  # action items are not grouped: never embedded
        assert embed_missing(session) == 0
    with db.session() as session:
        stored = session.scalars(select(Item.embedding).order_by(Item.id)).all()
    assert stored[2] is None
    for text, blob in zip(texts[:2], stored[:2], strict=True):
        vector = from_bytes(blob)
        assert vector is not None and float(vector @ embed([text])[0]) > 0.999


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_leaders_find_separated_groups() -> None:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(6, 384)))
    rows = unit(np.repeat(centres, 50, axis=0) + rng.normal(scale=0.01, size=(300, 384)))
    order = rng.permutation(300)
    labels = leaders(rows[order], threshold=0.8)
    assert len(set(labels.tolist())) == 6
    truth = np.repeat(np.arange(6), 50)[order]
    for label in set(labels.tolist()):
        assert len(set(truth[labels == label].tolist())) == 1


def test_leaders_stay_bounded_at_a_high_threshold() -> None:
    """Unrelated texts and the highest threshold: without a cap every item would lead a theme
    and each would be compared with all before it."""
    rng = np.random.default_rng(1)
    rows = unit(rng.normal(size=(3000, 384)))
    labels = leaders(rows, threshold=0.9, max_themes=MAX_THEMES)
    themed = labels[labels >= 0]
    assert len(set(themed.tolist())) == MAX_THEMES
    assert (labels < 0).sum() == 3000 - MAX_THEMES
    # every row in a theme is at least `threshold` alike to the theme's leader
    first = {int(label): i for i, label in reversed(list(enumerate(labels))) if label >= 0}
    for i, label in enumerate(labels.tolist()):
        if label >= 0:
            assert float(rows[i] @ rows[first[label]]) >= 0.9


def moment(n: int, text: str, vector: np.ndarray | None) -> Moment:
    call = MomentCall(n, "", f"Customer {n}", None, datetime(2026, 3, 2))
    blob = None if vector is None else to_bytes(vector)
    item = MomentItem(n, text, text, 0.0, 1.0, "unreviewed", None, blob)
    return Moment(item=item, call=call, rep="anna")


def test_group_leaves_out_items_still_without_an_embedding() -> None:
    texts = ["We need an integration with Salesforce", "A Salesforce integration is a must"]
    vectors = embed(texts)
    found = [
        moment(1, texts[0], vectors[0]),
        moment(2, texts[1], vectors[1]),
        moment(3, "Invoices every month", None),
    ]
    themes = group(found, 0.55)
    assert [len(t.moments) for t in themes] == [2] and themes[0].calls == 2
    assert pending(found) == 1
