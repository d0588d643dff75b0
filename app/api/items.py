"""The items resource: create, read, list, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app.auth import ReaderAuth, WriterAuth
from app.deps import ConnectionDep
from app.repositories import items as repo
from app.schemas import MAX_PAGE_SIZE, ItemCreate, ItemPublic, ItemsPublic, ItemUpdate

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
    conn: ConnectionDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    """List items by id, one page at a time."""
    rows, total = await repo.read_items(conn, offset=offset, limit=limit)
    return {"data": rows, "count": total}


@router.post(
    "",
    response_model=ItemPublic,
    status_code=201,
    responses=AUTH | CONFLICT,
    dependencies=[WriterAuth],
)
async def create_item(conn: ConnectionDep, item: ItemCreate) -> dict[str, Any]:
    """Create an item; names are unique."""
    try:
        return await repo.create_item(conn, item)
    except repo.DuplicateNameError:
        raise _conflict() from None


@router.get("/{item_id}", response_model=ItemPublic, responses=NOT_FOUND)
async def read_item(conn: ConnectionDep, item_id: ItemId) -> dict[str, Any]:
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
async def update_item(conn: ConnectionDep, item_id: ItemId, changes: ItemUpdate) -> dict[str, Any]:
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
