"""What an upgrade did: the schema it found and the revisions it applied."""

from __future__ import annotations

from dataclasses import dataclass

from app.revisions.window import Compatibility


@dataclass(frozen=True)
class UpgradeResult:
    before: Compatibility
    applied: list[str]
