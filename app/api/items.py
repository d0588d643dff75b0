"""The items resource: create, read, list, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app.auth import ReaderAuth, WriterAuth
from app.deps import ConnectionDep
from app.pagination import encode_cursor
from app.repositories import items as repo
from app.schemas import ItemCreate, ItemPublic, ItemsPublic, ItemsQuery, ItemUpdate

# Reads are open unless API_AUTH_READS; every write handler also declares WriterAuth.
router = APIRouter(prefix="/api/v1/items", tags=["items"], dependencies=[ReaderAuth])

# Ids are PostgreSQL bigints: anything outside is a 422, not a database error.
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No item with this id."}}
CONFLICT: Responses = {409: {"description": "An item with this name already exists."}}
AUTH: Responses = {
    401: {"description": "No bearer token."},
    403: {"description": "The bearer token is not accepted."},
}


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "item not found")


def _conflict() -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, "an item with this name already exists")


@router.get("", response_model=ItemsPublic)
async def read_items(
    conn: ConnectionDep, page: Annotated[ItemsQuery, Query()]
) -> dict[str, object]:
    """List items by id, one page at a time: pass `next_cursor` back as `cursor` for the next."""
    rows, more = await repo.read_items(
        conn, after=page.cursor or 0, offset=page.offset, limit=page.limit
    )
    total = await repo.count_items(conn) if page.count else None
    next_cursor = encode_cursor(rows[-1].id) if more else None
    # FastAPI validates this against ItemsPublic once; a model built here would be dumped and
    # validated again.
    return {"data": rows, "next_cursor": next_cursor, "count": total}


@router.post(
    "",
    response_model=ItemPublic,
    status_code=201,
    responses=AUTH | CONFLICT,
    dependencies=[WriterAuth],
)
async def create_item(conn: ConnectionDep, item: ItemCreate) -> repo.Item:
    """Create an item; names are unique."""
    try:
        return await repo.create_item(conn, item)
    except repo.DuplicateNameError:
        raise _conflict() from None


@router.get("/{item_id}", response_model=ItemPublic, responses=NOT_FOUND)
async def read_item(conn: ConnectionDep, item_id: ItemId) -> repo.Item:
    """Read one item."""
    row = await repo.read_item(conn, item_id)
    if row is None:
        raise _not_found()
    return row


@router.patch(
    "/{item_id}",
    response_model=ItemPublic,
    responses=AUTH | NOT_FOUND | CONFLICT,
    dependencies=[WriterAuth],
)
async def update_item(conn: ConnectionDep, item_id: ItemId, changes: ItemUpdate) -> repo.Item:
    """Change the fields present in the body."""
    try:
        row = await repo.update_item(conn, item_id, changes)
    except repo.DuplicateNameError:
        raise _conflict() from None
    if row is None:
        raise _not_found()
    return row


@router.delete("/{item_id}", status_code=204, responses=AUTH | NOT_FOUND, dependencies=[WriterAuth])
async def delete_item(conn: ConnectionDep, item_id: ItemId) -> Response:
    """Delete one item."""
    if not await repo.delete_item(conn, item_id):
        raise _not_found()
    return Response(status_code=204)
