"""Cursors: what encode_cursor issues decodes back; anything else is refused, never a crash."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.pagination import MAX_LENGTH, InvalidCursorError, decode_cursor, encode_cursor

BIGINT = 2**63 - 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@given(st.integers(min_value=1, max_value=BIGINT))
def test_every_issued_cursor_decodes_to_its_id(after: int) -> None:
    token = encode_cursor(after)
    assert decode_cursor(token) == after
    assert len(token) <= MAX_LENGTH
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_largest_id_fits_the_length_bound() -> None:
    assert len(encode_cursor(BIGINT)) <= MAX_LENGTH


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor", id="not base64"),
        pytest.param("eyJ2IjoxLCJhZnRlciI6MX0\u00e9", id="not ASCII"),
        pytest.param("eyJ2IjoxLCJhZnRlciI6MX0/", id="standard alphabet"),
        pytest.param("eyJ2IjoxLCJhZnRlciI6MX0=", id="padded"),
        pytest.param("eyJ2IjoxLCJhZnRlciI6MX", id="truncated"),
        pytest.param(_b64(b"\xff\xfe"), id="not UTF-8"),
        pytest.param(_b64(b"{not json"), id="not JSON"),
        pytest.param(_b64(b"[1]"), id="not an object"),
        pytest.param(_b64(b'{"v":1}'), id="no id"),
        pytest.param(_b64(b'{"after":5}'), id="no version"),
        pytest.param(_b64(b'{"v":2,"after":5}'), id="unknown version"),
        pytest.param(_b64(b'{"v":1,"after":"5"}'), id="id as string"),
        pytest.param(_b64(b'{"v":1,"after":5.0}'), id="id as float"),
        pytest.param(_b64(b'{"v":1,"after":true}'), id="id as bool"),
        pytest.param(_b64(b'{"v":1,"after":0}'), id="id zero"),
        pytest.param(_b64(b'{"v":1,"after":-3}'), id="negative id"),
        pytest.param(_b64(json.dumps({"v": 1, "after": 2**63}).encode()), id="beyond bigint"),
        pytest.param(_b64(b'{"v":1,"after":1e999}'), id="overflowing float"),
        pytest.param(_b64(b'{"v": 1, "after": 5}'), id="not canonical JSON"),
        pytest.param(_b64(b'{"after":5,"v":1}'), id="reordered keys"),
        pytest.param(_b64(b'{"v":1,"after":5,"x":0}'), id="extra key"),
        pytest.param(encode_cursor(5) + "A" * MAX_LENGTH, id="too long"),
    ],
)
def test_anything_else_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(token)


@pytest.mark.parametrize("value", [None, 5, b"eyJ2IjoxLCJhZnRlciI6MX0"])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(value)


@given(st.text(max_size=80))
def test_arbitrary_text_decodes_only_if_it_is_exactly_what_we_issue(token: str) -> None:
    try:
        after = decode_cursor(token)
    except InvalidCursorError:
        return
    assert encode_cursor(after) == token


@given(st.integers(min_value=1, max_value=BIGINT), st.data())
def test_a_changed_character_never_passes_unnoticed(after: int, data: st.DataObject) -> None:
    token = encode_cursor(after)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[index]))
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        moved = decode_cursor(tampered)
    except InvalidCursorError:
        return
    # A well-formed edit can only name another position, and then is exactly that one's cursor.
    assert moved != after
    assert encode_cursor(moved) == tampered
