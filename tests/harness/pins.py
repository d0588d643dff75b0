"""What the harness's tests read back: a Go module's pins and a daemon's command-line flags."""

from __future__ import annotations

import re
from pathlib import Path

GO = Path(__file__).resolve().parents[2] / "cluster" / "go"


def go_mod_pins(component: str, module: str) -> tuple[str, str]:
    """(the version `cluster/go/COMPONENT/go.mod` requires of `module`, the `tool` it builds)."""
    text = (GO / component / "go.mod").read_text()
    required = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.MULTILINE)
    tool = re.search(r"^tool (\S+)$", text, re.MULTILINE)
    assert required, f"{component}/go.mod does not require {module}"
    assert tool, f"{component}/go.mod has no tool"
    return required.group(1), tool.group(1)


def flags(argv: list[str]) -> dict[str, str]:
    """`--name=value` arguments after the program, as a dict."""
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])
