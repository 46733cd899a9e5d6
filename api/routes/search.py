"""Full-text search over transcripts and items of the calls you may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep
from api.schemas import SearchHit, SearchResults
from assistant.store import search as store_search
from assistant.store.access import visible

router = APIRouter(prefix="/api/search", tags=["search"])


@router.get("", response_model=SearchResults)
def search(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words; `word*` = prefix")],
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResults:
    """Moments whose words match: call, speaker, timestamp and a snippet (matches in
    ``<mark>``). Every word must occur; rejected items are left out."""
    hits = store_search.search(session, visible(user), q, limit, offset)
    data = [
        SearchHit(
            call_id=h.call_id,
            call_title=h.call_title,
            kind=h.kind,
            id=h.ref_id,
            item_kind=h.item_kind,
            speaker=h.speaker,
            start_s=h.start_s,
            end_s=h.end_s,
            snippet=h.snippet,
        )
        for h in hits
    ]
    return SearchResults(query=q, data=data, count=len(data))
