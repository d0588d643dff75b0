"""Which cluster the demo runs on, and how its nodes get the locally built images.

Without KUBECONFIG (or with the test cluster's own), the demo builds and starts the project's
test cluster (docs/cluster.md) and imports the images into every node. With KUBECONFIG pointing
elsewhere it uses that cluster as it is: kind and minikube get the images with their own load
commands, Docker Desktop's Kubernetes runs the engine's images as they are, and any other
cluster must pull them from a registry (push them there, then DEMO_SKIP_LOAD=1). Only the
project's own cluster is tested here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """The cluster: its kubeconfig, whether the demo owns it, its current context's name."""

    kubeconfig: Path
    own: bool
    context: str

    def load_command(self, images: Sequence[str]) -> list[str] | str:
        """The command that puts `images` on the nodes, or why none is needed (a str)."""
        if os.environ.get("DEMO_SKIP_LOAD") == "1":
            return "DEMO_SKIP_LOAD=1: the cluster pulls the images itself"
        if self.own:
            return ["make", "cluster-load", f"IMAGES={' '.join(images)}"]
        if self.context.startswith("kind-"):
            return [
                "kind",
                "load",
                "docker-image",
                "--name",
                self.context.removeprefix("kind-"),
                *images,
            ]
        if self.context == "minikube":
            return ["minikube", "image", "load", *images]
        if self.context == "docker-desktop":
            return "Docker Desktop's Kubernetes runs the engine's own images"
        raise LookupError(
            f"context {self.context!r} is not kind, minikube or Docker Desktop: push "
            f"{' and '.join(images)} to a registry it pulls from, then run "
            "make demo DEMO_SKIP_LOAD=1 IMAGE=<registry>/platform-api:<tag> "
            "POSTGRES_IMAGE=<registry>/<name>:<tag>"
        )


def target(root: Path) -> Target:
    own_config = root / ".cluster" / "kubeconfig"
    given = os.environ.get("KUBECONFIG", "")
    if not given or Path(given).resolve() == own_config.resolve():
        return Target(own_config, own=True, context="platform")
    context = subprocess.run(
        ["kubectl", "--kubeconfig", given, "config", "current-context"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return Target(Path(given), own=False, context=context)
