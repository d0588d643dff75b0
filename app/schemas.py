"""Request and response models. Inputs are strict: a number is not a string, and vice versa."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


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
    # Output model: built from database rows, so lax types and ignored extra columns.
    model_config = ConfigDict(strict=False, extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


class ItemsPublic(BaseModel):
    data: list[ItemPublic]
    count: int = Field(description="Total number of items, for pagination.")


class ServiceInfo(BaseModel):
    name: str
    version: str
    environment: str


class Status(BaseModel):
    status: str
    reason: str | None = None
