"""The Debian packages the host needs: the one place that installs them (`python -m cluster
packages`, also run by `build` and `up`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cluster import config
from cluster.system import log


def missing(workers: bool) -> list[str]:
    """Packages whose programs are not installed."""
    wanted = config.APT_PACKAGES | (config.WORKER_APT_PACKAGES if workers else {})
    return sorted(
        {
            package
            for program, package in wanted.items()
            if not (Path(program).exists() if program.startswith("/") else shutil.which(program))
        }
    )


def ensure(workers: bool) -> None:
    """apt-get install the packages whose programs are missing."""
    needed = missing(workers)
    if not needed:
        return
    log(f"installing {' '.join(needed)} from Debian")
    policy = Path("/usr/sbin/policy-rc.d")
    # Package scripts would start etcd/containerd as system services: the harness runs its own.
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *needed],
            env=env,
            check=True,
        )
    finally:
        if ours:
            policy.unlink()
