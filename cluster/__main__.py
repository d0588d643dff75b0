"""Command line: `python -m cluster {build,up,down,load,status}`."""

from __future__ import annotations

import argparse
import sys

from cluster import lifecycle
from cluster.config import Paths, repo_root


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="compile the binaries and write the images if missing")
    commands.add_parser("up", help="start the cluster (idempotent; recovers from a bad run)")
    commands.add_parser("down", help="stop it and remove every trace")
    commands.add_parser("status", help="which daemons run; exit 0 when healthy")
    load = commands.add_parser("load", help="import docker images into the node")
    load.add_argument("images", nargs="+")
    args = parser.parse_args()

    paths = Paths(repo_root())
    if args.command == "build":
        lifecycle.ensure_packages()
        lifecycle.build(paths)
    elif args.command == "up":
        lifecycle.up(paths)
    elif args.command == "down":
        lifecycle.down(paths)
    elif args.command == "status":
        return lifecycle.status(paths)
    else:
        lifecycle.load(paths, args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
