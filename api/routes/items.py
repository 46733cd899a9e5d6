"""Items: review (accept, reject, edit), with who and when."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.routes.calls import item_public
from api.schemas import Id, ItemPublic, ItemUpdate, Message
from assistant.store import calls as store
from assistant.store import insights

router = APIRouter(prefix="/api/items", tags=["review"])


@router.get("/{item_id}", response_model=ItemPublic, responses={404: {"model": Message}})
def get_item(item_id: Id, user: CurrentUser, session: SessionDep) -> ItemPublic:
    return item_public(store.get_item(session, user, item_id))


@router.patch("/{item_id}", response_model=ItemPublic, responses={404: {"model": Message}})
def review_item(
    item_id: Id, body: ItemUpdate, user: CurrentUser, session: SessionDep
) -> ItemPublic:
    """Accept or reject (``review``) and/or edit text, owner, due date, category or kind.
    Editing an unreviewed item accepts it. Every change is kept in the item's ``edits``."""
    item = store.get_item(session, user, item_id)
    changes = body.model_dump(exclude_unset=True)
    review = changes.pop("review", None)
    store.review_item(session, user, item, review, changes)
    if item.embedding is None:
        insights.embed_new_item(item)
    session.commit()
    session.refresh(item)
    return item_public(item)
