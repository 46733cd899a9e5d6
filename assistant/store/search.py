"""Full-text search over transcripts and items.

SQLite: an FTS5 table ``search_fts`` (text, call_id, kind, ref_id) that the store fills when it
saves results and edits items. PostgreSQL: ``to_tsvector('simple', text)`` over the segment and
item tables, backed by GIN expression indexes. Both take the user's words as plain words (every
word must match, a trailing ``*`` matches a prefix), never as query syntax, so no input is an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from assistant.store.tables import Call, Item, Segment, Speaker

_FTS = table("search_fts", column("text"), column("call_id"), column("kind"), column("ref_id"))

WORD = re.compile(r"\w+\*?", re.UNICODE)
MAX_WORDS = 12


def words(query: str) -> list[str]:
    return WORD.findall(query)[:MAX_WORDS]


def fts5_query(query: str) -> str:
    """Each word quoted (so FTS5 operators in the input are just text), all words required."""
    parts = []
    for word in words(query):
        prefix = word.endswith("*")
        core = word.rstrip("*")
        if core:
            parts.append(f'"{core}"' + ("*" if prefix else ""))
    return " ".join(parts)


def ts_query(query: str) -> str:
    """A PostgreSQL ``to_tsquery('simple', ...)`` string built only from word characters."""
    parts = []
    for word in words(query):
        core = word.rstrip("*").lower()
        if core:
            parts.append(core + (":*" if word.endswith("*") else ""))
    return " & ".join(parts)


def index_rows(
    session: Session, call_id: int, segments: Sequence[Segment], items: Sequence[Item], dialect: str
) -> None:
    if dialect != "sqlite":
        return
    rows = [
        {"text": s.text, "call_id": call_id, "kind": "segment", "ref_id": s.id} for s in segments
    ]
    rows += [{"text": i.text, "call_id": call_id, "kind": "item", "ref_id": i.id} for i in items]
    if rows:
        session.execute(
            text(
                "INSERT INTO search_fts (text, call_id, kind, ref_id) "
                "VALUES (:text, :call_id, :kind, :ref_id)"
            ),
            rows,
        )


def index_item(session: Session, item: Item, dialect: str) -> None:
    if dialect != "sqlite":
        return
    session.execute(
        text("DELETE FROM search_fts WHERE kind = 'item' AND ref_id = :ref_id"),
        {"ref_id": item.id},
    )
    index_rows(session, item.call_id, [], [item], dialect)


def unindex_call(session: Session, call_id: int, dialect: str, keep_manual: bool = False) -> None:
    if dialect != "sqlite":
        return
    if keep_manual:
        manual = select(Item.id).where(Item.call_id == call_id, Item.origin == "manual")
        kept = [row for row in session.scalars(manual)]
        session.execute(
            text(
                "DELETE FROM search_fts WHERE call_id = :call_id AND NOT "
                "(kind = 'item' AND ref_id IN :kept)"
            ).bindparams(bindparam("kept", expanding=True)),
            {"call_id": call_id, "kept": kept or [-1]},
        )
        return
    session.execute(text("DELETE FROM search_fts WHERE call_id = :call_id"), {"call_id": call_id})


def matching_calls(query: str, dialect: str):
    """A subquery of call ids whose transcript or items contain every word of ``query``."""
    if dialect == "sqlite":
        match = fts5_query(query)
        if not match:
            return select(literal(-1))
        return text("SELECT call_id FROM search_fts WHERE search_fts MATCH :match").bindparams(
            match=match
        )
    tsq = ts_query(query)
    if not tsq:
        return select(literal(-1))
    q = func.to_tsquery("simple", tsq)
    in_segments = select(Segment.call_id).where(
        func.to_tsvector("simple", Segment.text).op("@@")(q)
    )
    in_items = select(Item.call_id).where(
        func.to_tsvector("simple", Item.text).op("@@")(q), Item.review != "rejected"
    )
    return union_all(in_segments, in_items)


@dataclass(frozen=True)
class Hit:
    call_id: int
    call_title: str
    kind: str  # segment | item
    ref_id: int
    speaker: str | None
    start_s: float
    end_s: float
    snippet: str
    item_kind: str | None = None


def search(
    session: Session, visible: ColumnElement[bool], query: str, limit: int = 50, offset: int = 0
) -> list[Hit]:
    """Segments and items matching ``query`` in calls ``visible`` selects, best first."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return _search_sqlite(session, visible, query, limit, offset)
    return _search_postgres(session, visible, query, limit, offset)


def _search_sqlite(
    session: Session, visible: ColumnElement[bool], query: str, limit: int, offset: int
) -> list[Hit]:
    match = fts5_query(query)
    if not match:
        return []
    # Visibility is a subquery, never one bound parameter per call: an admin may see more calls
    # than SQLite takes parameters, and the list would grow with every call.
    allowed = select(Call.id).where(visible)
    rows = session.execute(
        select(
            _FTS.c.call_id,
            _FTS.c.kind,
            _FTS.c.ref_id,
            literal_column("snippet(search_fts, 0, '<mark>', '</mark>', '…', 16)"),
        )
        .where(literal_column("search_fts").op("MATCH")(match), _FTS.c.call_id.in_(allowed))
        .order_by(literal_column("rank"))
        .limit(limit)
        .offset(offset)
    ).all()
    return _hits(session, [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows])


def _search_postgres(
    session: Session, visible: ColumnElement[bool], query: str, limit: int, offset: int
) -> list[Hit]:
    tsq = ts_query(query)
    if not tsq:
        return []
    q = func.to_tsquery("simple", tsq)
    options = "StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8"

    def part(table, kind: str):
        vector = func.to_tsvector("simple", table.text)
        return (
            select(
                table.call_id,
                literal(kind).label("kind"),
                table.id.label("ref_id"),
                func.ts_headline("simple", table.text, q, options).label("snippet"),
                func.ts_rank(vector, q).label("rank"),
            )
            .join(Call, Call.id == table.call_id)
            .where(vector.op("@@")(q), visible)
        )

    items = part(Item, "item").where(Item.review != "rejected")
    both = union_all(part(Segment, "segment"), items).subquery()
    rows = session.execute(
        select(both.c.call_id, both.c.kind, both.c.ref_id, both.c.snippet)
        .order_by(both.c.rank.desc(), both.c.call_id, both.c.ref_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return _hits(session, [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows])


def _hits(session: Session, rows: list[tuple[int, str, int, str]]) -> list[Hit]:
    seg_ids = [r[2] for r in rows if r[1] == "segment"]
    item_ids = [r[2] for r in rows if r[1] == "item"]
    segs = {s.id: s for s in session.scalars(select(Segment).where(Segment.id.in_(seg_ids)))}
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(item_ids)))}
    call_ids = {r[0] for r in rows}
    titles = dict(session.execute(select(Call.id, Call.title).where(Call.id.in_(call_ids))).all())
    names = {
        (s.call_id, s.label): s.name
        for s in session.scalars(select(Speaker).where(Speaker.call_id.in_(call_ids)))
        if s.name
    }
    hits = []
    for call_id, kind, ref_id, snippet in rows:
        row: Segment | Item | None = segs.get(ref_id) if kind == "segment" else items.get(ref_id)
        if row is None or (isinstance(row, Item) and row.review == "rejected"):
            continue
        hits.append(
            Hit(
                call_id=call_id,
                call_title=titles.get(call_id, ""),
                kind=kind,
                ref_id=ref_id,
                speaker=names.get((call_id, row.speaker or ""), row.speaker),
                start_s=row.start_s,
                end_s=row.end_s,
                snippet=snippet,
                item_kind=row.kind if isinstance(row, Item) else None,
            )
        )
    return hits
