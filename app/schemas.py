"""Request and response models. Inputs are strict: a number is not a string, and vice versa."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.pagination import MAX_LENGTH as MAX_CURSOR_LENGTH
from app.pagination import decode_cursor


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates are not UTF-8: reject both with a 422
    # here rather than let the database fail the request with a 5xx.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


ItemName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_storable),
]
ItemDescription = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_storable)]
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
# PostgreSQL reads and discards every row an OFFSET skips: the bound caps what one page can cost.
MAX_OFFSET = 10_000

# Arrives as the opaque string a previous page returned; validated into the id the page starts
# after, so a malformed or forged cursor is a 422 before any SQL runs.
PageCursor = Annotated[
    int,
    BeforeValidator(decode_cursor),
    WithJsonSchema({"type": "string", "maxLength": MAX_CURSOR_LENGTH}),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ItemBase(StrictModel):
    name: ItemName
    description: ItemDescription | None = None


class ItemCreate(ItemBase):
    pass


class ItemUpdate(StrictModel):
    """A partial update: only the fields present in the body change; `description` may be null."""

    name: ItemName | None = None
    description: ItemDescription | None = None

    @model_validator(mode="after")
    def _name_is_not_null(self) -> ItemUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class ItemPublic(ItemBase):
    # Output model: built from the repository's row objects, so attributes, lax types and ignored
    # extra columns.
    model_config = ConfigDict(strict=False, extra="ignore", from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


class ItemsQuery(BaseModel):
    """Query parameters of the item list: a page by cursor or, for older clients, by offset."""

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")
    cursor: PageCursor | None = Field(
        None, description="`next_cursor` of the previous page, unchanged; omit for the first page."
    )
    offset: int = Field(
        0,
        ge=0,
        le=MAX_OFFSET,
        description="Items to skip, for clients written before cursors; not with `cursor`.",
    )
    count: bool = Field(
        False, description="Also return the total number of items (a scan of the whole table)."
    )

    @model_validator(mode="after")
    def _one_way_to_page(self) -> ItemsQuery:
        if self.cursor is not None and "offset" in self.model_fields_set:
            raise ValueError("offset cannot be combined with cursor: follow next_cursor alone")
        return self


class ItemsPublic(BaseModel):
    data: list[ItemPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
    count: int | None = Field(
        None, description="Total number of items; only with `count=true`, null otherwise."
    )


class ServiceInfo(BaseModel):
    name: str
    version: str
    environment: str


class Status(BaseModel):
    status: str
    reason: str | None = None
