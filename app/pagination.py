"""Keyset-pagination cursors: opaque tokens that say where the next page of a listing starts.

A cursor is the unpadded urlsafe base64 of a small versioned JSON object, `{"v":1,"after":42}`:
the next page holds the items whose id is greater than `after`. Clients must treat it as opaque;
the version lets the format change later while the API still refuses cursors it does not know.

It is not signed: it carries only a position in a listing the client may read anyway, so a forged
cursor can do no more than start somewhere else. What matters is that anything this module did
not issue is refused with `InvalidCursorError` before it reaches SQL: decoding accepts only the
canonical encoding of a known version with an id in bigint range.
"""

from __future__ import annotations

import base64
import json

VERSION = 1
# The longest cursor issued (the largest bigint id) is 47 characters; anything longer is not ours.
MAX_LENGTH = 64
_MAX_ID = 2**63 - 1
_NOT_OURS = "not a cursor issued by this API: pass next_cursor from the previous page unchanged"


class InvalidCursorError(ValueError):
    """The token is not a cursor this API issued."""


def encode_cursor(after_id: int) -> str:
    """The cursor of the page that starts after the item `after_id`."""
    payload = json.dumps({"v": VERSION, "after": after_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(token: object) -> int:
    """The id a cursor starts after; `InvalidCursorError` for what `encode_cursor` did not make."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_LENGTH:
        raise InvalidCursorError(_NOT_OURS)
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw)
    except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8, not JSON
        raise InvalidCursorError(_NOT_OURS) from None
    after = payload.get("after") if isinstance(payload, dict) else None
    # bool is an int subclass: `true` is not an id.
    if type(after) is not int or not 1 <= after <= _MAX_ID or payload.get("v") != VERSION:
        raise InvalidCursorError(_NOT_OURS)
    # Only the exact token we would issue: no padding, no `+`/`/`, no reordered or extra keys.
    if encode_cursor(after) != token:
        raise InvalidCursorError(_NOT_OURS)
    return after
