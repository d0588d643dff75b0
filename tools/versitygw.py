"""versitygw, the S3 server of the backup tests and the in-cluster object store: built, not fetched.

`tools/go/versitygw/go.mod` requires `github.com/versity/versitygw` at an exact version (as a Go
`tool`), `go.sum` pins every module's hash, and nothing else of it is committed. The static
binary is cached under `.cache/versitygw/<version>-<digest of go.mod + go.sum>/`, so it is
compiled once per pinned version (minutes on two cold cores, seconds with a warm Go build cache)
and a version bump rebuilds it.

    python tools/versitygw.py     # build if needed, print the binary's path
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "tools" / "go" / "versitygw"
PACKAGE = "github.com/versity/versitygw/cmd/versitygw"
CACHE = ROOT / ".cache" / "versitygw"


def version() -> str:
    """The exact versitygw version go.mod requires."""
    match = re.search(
        r"^\s*github\.com/versity/versitygw (v\S+)", (MODULE / "go.mod").read_text(), re.M
    )
    if match is None:
        raise RuntimeError(f"{MODULE / 'go.mod'} does not require github.com/versity/versitygw")
    return match.group(1)


def _go() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        raise RuntimeError("no Go toolchain on PATH or in /usr/local/go: versitygw cannot be built")
    return found


def binary_path() -> Path:
    """Where the build for the pinned go.mod/go.sum lives (it may not exist yet)."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE / name).read_bytes())
    return CACHE / f"{version()}-{digest.hexdigest()[:12]}" / "versitygw"


def build() -> Path:
    """The cached static binary, compiled first if this pinned version has none yet."""
    out = binary_path()
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    pinned = version()
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -trimpath"}
    # A build into a temporary name, renamed when complete: a concurrent or interrupted build
    # never leaves a truncated binary at the cached path.
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        partial = Path(scratch) / "versitygw"
        # nice: the machine's two cores are shared with other builds and test runs.
        argv = [
            "nice", "-n", "10", _go(), "-C", str(MODULE), "build", "-buildvcs=false",
            "-ldflags", f"-s -w -X main.Version={pinned} -X main.Build=module-proxy",
            "-o", str(partial), PACKAGE,
        ]  # fmt: skip
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"go build {PACKAGE}@{pinned} failed:\n{result.stderr}")
        partial.replace(out)
    return out


if __name__ == "__main__":
    try:
        print(build())
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
