"""Needs and objections across calls, grouped into themes by meaning.

Items of one kind from the calls a user may see (accepted and unreviewed; rejected ones never
count) are grouped by the sentence embeddings of their texts (``assistant.embeddings``: the
bundled all-MiniLM-L6-v2, unit length, the encoder extraction and the summary use). An
embedding is computed once, when the item is written, and stored with it: the worker embeds a
call's items when it stores them, an item added or edited by hand is embedded right then (one
sentence), and whatever is still missing (items from before embeddings were stored, or written
while the encoder was not installed) is filled in by the worker between jobs
(``embed_missing``) and, a bounded number per request, by the request that needs it. A request
therefore never embeds more than ``LAZY_EMBED_LIMIT`` texts.

Grouping is greedy leader clustering over the stored vectors: in order, an item joins the theme
whose first item (its leader) is most similar to it if that similarity reaches ``threshold``,
otherwise it leads a new theme. Similarities are computed a block of items at a time against
all leaders (numpy), and there are at most ``MAX_THEMES`` leaders, so a request costs at most
``MAX_ITEMS`` x ``MAX_THEMES`` dot products whatever its threshold; an item that matches no
leader once the cap is reached is a theme of its own. A theme's label is its most central
item's text (most similar to the theme's mean).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.errors import ModelError
from assistant.store.access import visible
from assistant.store.tables import Call, Item, User

if TYPE_CHECKING:
    import numpy as np

DEFAULT_THRESHOLD = 0.55
MIN_THRESHOLD = 0.3
MAX_THRESHOLD = 0.9
MAX_ITEMS = 5000
MAX_THEMES = 500
EMBEDDING_DIM = 384
INSIGHT_KINDS = ("customer_need", "objection")
# Texts one insights request may embed itself (items whose stored embedding is missing).
LAZY_EMBED_LIMIT = 32
# Texts the worker embeds per pass when it fills in missing embeddings.
BACKFILL_BATCH = 256
BLOCK = 256
CALLS_PER_QUERY = 500


@dataclass(slots=True)
class MomentItem:
    """What a theme shows of an item (read as plain columns: thousands of ORM objects would
    cost a request more than the grouping)."""

    id: int
    text: str
    quote: str
    start_s: float
    end_s: float
    review: str
    category: str | None
    embedding: bytes | None


@dataclass(frozen=True, slots=True)
class MomentCall:
    id: int
    title: str
    customer: str
    call_date: date | None
    created_at: datetime


@dataclass(frozen=True)
class Moment:
    item: MomentItem
    call: MomentCall
    rep: str


@dataclass(frozen=True)
class Theme:
    label: str
    moments: list[Moment]

    @property
    def calls(self) -> int:
        return len({m.call.id for m in self.moments})

    @property
    def customers(self) -> int:
        return len({m.call.customer.strip().lower() or f"call-{m.call.id}" for m in self.moments})


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length sentence embeddings, one row per text."""
    import numpy as np

    if not texts:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    from assistant.embeddings import get_sentence_encoder

    return np.asarray(get_sentence_encoder()(texts), dtype=np.float32)


def to_bytes(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype="<f4").reshape(EMBEDDING_DIM).tobytes()


def from_bytes(blob: bytes | None) -> np.ndarray | None:
    import numpy as np

    if blob is None or len(blob) != EMBEDDING_DIM * 4:
        return None
    return np.frombuffer(blob, dtype="<f4")


def embeddings_of(texts: list[str]) -> list[bytes]:
    """Stored form of the embeddings of ``texts`` (what the worker keeps with a call's items)."""
    return [to_bytes(v) for v in embed(texts)]


def embed_items(items: list[Item]) -> int:
    """Store the embedding of each item of an insight kind (needs, objections); returns how
    many were embedded. Raises ``ModelError`` when the encoder is not installed."""
    todo = [i for i in items if i.kind in INSIGHT_KINDS]
    for item, blob in zip(todo, embeddings_of([i.text for i in todo]), strict=True):
        item.embedding = blob
    return len(todo)


def embed_new_item(item: Item) -> None:
    """Embed an item added or edited by hand, right away (one sentence). Without the encoder
    installed it stays missing, and is filled in later like any other."""
    if item.kind in INSIGHT_KINDS:
        try:
            embed_items([item])
        except ModelError:
            item.embedding = None


def embed_missing(session: Session, limit: int = BACKFILL_BATCH) -> int:
    """Embed up to ``limit`` items of insight kinds that have no embedding yet (items from
    before embeddings were stored, or written without the encoder); returns how many."""
    items = session.scalars(
        select(Item)
        .where(
            Item.embedding.is_(None),
            Item.kind.in_(INSIGHT_KINDS),
            Item.review != "rejected",
        )
        .order_by(Item.id)
        .limit(limit)
    ).all()
    n = embed_items(list(items))
    session.flush()
    return n


def moments(
    session: Session,
    user: User,
    kind: str,
    date_from: date | None = None,
    date_to: date | None = None,
    rep: str | None = None,
    account_id: int | None = None,
) -> list[Moment]:
    day = func.coalesce(Call.call_date, func.date(Call.created_at))
    query = (
        select(
            Item.id,
            Item.call_id,
            Item.text,
            Item.quote,
            Item.start_s,
            Item.end_s,
            Item.review,
            Item.category,
            Item.embedding,
        )
        .join(Call, Call.id == Item.call_id)
        .join(User, User.id == Call.owner_id)
        .where(Item.kind == kind, Item.review != "rejected", visible(user))
        .order_by(Item.id)
        .limit(MAX_ITEMS)
    )
    if date_from:
        query = query.where(day >= date_from)
    if date_to:
        query = query.where(day <= date_to)
    if rep:
        query = query.where(User.name == rep)
    if account_id is not None:
        query = query.where(Call.account_id == account_id)
    rows = session.execute(query).all()
    # The calls once each (a few hundred rows), not once per item.
    calls: dict[int, tuple[MomentCall, str]] = {}
    wanted = sorted({row.call_id for row in rows})
    for start in range(0, len(wanted), CALLS_PER_QUERY):
        chunk = wanted[start : start + CALLS_PER_QUERY]
        for c in session.execute(
            select(Call.id, Call.title, Call.customer, Call.call_date, Call.created_at, User.name)
            .join(User, User.id == Call.owner_id)
            .where(Call.id.in_(chunk))
        ):
            calls[c.id] = (MomentCall(c.id, c.title, c.customer, c.call_date, c.created_at), c.name)
    found = []
    for row in rows:
        call, rep_name = calls[row.call_id]
        item = MomentItem(
            row.id,
            row.text,
            row.quote,
            row.start_s,
            row.end_s,
            row.review,
            row.category,
            row.embedding,
        )
        found.append(Moment(item, call, rep_name))
    return found


def embed_some_missing(session: Session, found: list[Moment], limit: int | None = None) -> int:
    """Embed and store at most ``limit`` (``LAZY_EMBED_LIMIT``) of the moments whose item has
    no stored embedding yet (the caller commits); returns how many. Without the encoder, none."""
    limit = LAZY_EMBED_LIMIT if limit is None else limit
    missing = {m.item.id: m.item for m in found if m.item.embedding is None}
    if not missing or limit <= 0:
        return 0
    rows = session.scalars(select(Item).where(Item.id.in_(sorted(missing)[:limit]))).all()
    try:
        n = embed_items(list(rows))
    except ModelError:
        return 0
    for row in rows:
        missing[row.id].embedding = row.embedding
    session.flush()
    return n


def pending(found: list[Moment]) -> int:
    """Moments not grouped yet: their embedding is still to be computed."""
    return sum(1 for m in found if from_bytes(m.item.embedding) is None)


def leaders(vectors: np.ndarray, threshold: float, max_themes: int = MAX_THEMES) -> np.ndarray:
    """Greedy leader clustering of unit rows: the theme of each row (themes numbered in order
    of their leaders), or -1 for a row that matched no leader once ``max_themes`` leaders
    exist. At most ``len(vectors) * max_themes`` dot products.

    A block of rows at a time: a row whose best earlier leader reaches ``threshold`` never
    leads, so only the others are walked one by one to find this block's new leaders; then
    every row takes the most similar leader that existed before it."""
    import numpy as np

    n = len(vectors)
    labels = np.full(n, -1, dtype=np.int64)
    lead = np.zeros((max_themes, vectors.shape[1] if n else EMBEDDING_DIM), np.float32)
    count = 0
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK]
        size = len(block)
        to_old = block @ lead[:count].T  # (rows, leaders before this block)
        best_old = to_old.max(axis=1) if count else np.full(size, -np.inf, np.float32)
        new: list[int] = []  # rows of this block that lead a theme, in order
        for j in np.flatnonzero(best_old < threshold).tolist():
            if count + len(new) >= max_themes:
                break
            if new and float((block[new] @ block[j]).max()) >= threshold:
                continue
            new.append(j)
        sims = to_old
        if new:
            to_new = block @ block[new].T  # (rows, new leaders)
            # a row only sees the leaders that came before it (and a leader itself)
            to_new[np.arange(size)[:, None] < np.asarray(new)[None, :]] = -np.inf
            sims = np.concatenate([to_old, to_new], axis=1)
        if sims.shape[1]:
            best = sims.argmax(axis=1)
            ok = sims[np.arange(size), best] >= threshold
            labels[start : start + size] = np.where(ok, best, -1)
        for k, j in enumerate(new):
            labels[start + j] = count + k
            lead[count + k] = block[j]
        count += len(new)
    return labels


def _one_blas_thread() -> AbstractContextManager[object]:
    """Many small matrix products: on one thread they take milliseconds, spread over CPUs
    that workers keep busy they take a hundred times longer."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def group(found: list[Moment], threshold: float = DEFAULT_THRESHOLD) -> list[Theme]:
    """Themes of the moments that have an embedding, the ones heard in most calls first."""
    import numpy as np

    threshold = min(max(threshold, MIN_THRESHOLD), MAX_THRESHOLD)
    size = EMBEDDING_DIM * 4
    usable = [m for m in found if m.item.embedding is not None and len(m.item.embedding) == size]
    if not usable:
        return []
    blob = b"".join(m.item.embedding for m in usable)  # type: ignore[misc]
    vectors = np.frombuffer(blob, dtype="<f4").reshape(len(usable), EMBEDDING_DIM)
    vectors = vectors.astype(np.float32)
    with _one_blas_thread():
        labels = leaders(vectors, threshold)
    # Rows that matched no leader once the cap was reached are themes of their own.
    alone = np.flatnonzero(labels < 0)
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(len(alone))
    # every label from 0 up is used: sum each theme's rows in one pass over the sorted rows
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sums = np.add.reduceat(vectors[order], starts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    centrality = np.einsum("ij,ij->i", vectors, sums[labels])
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(i)
    themes = []
    for idx in members.values():
        central = max(idx, key=lambda i: float(centrality[i]))
        themes.append(Theme(label=usable[central].item.text, moments=[usable[i] for i in idx]))
    themes.sort(key=lambda t: (-t.calls, -len(t.moments), t.label))
    return themes
