"""Command line: `python -m cluster {packages,build,up,down,status,load,stop-node,start-node}`."""

from __future__ import annotations

import argparse
import sys

from cluster import config, lifecycle, packages, teardown
from cluster.config import Paths, repo_root
from cluster.system import log


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sized = argparse.ArgumentParser(add_help=False)
    sized.add_argument(
        "--nodes",
        default=str(config.DEFAULT_NODES),
        help=f"nodes, the host's included (1 to {config.MAX_NODES})",
    )
    commands.add_parser("packages", parents=[sized], help="install the Debian packages needed")
    commands.add_parser("build", parents=[sized], help="compile binaries, write images if missing")
    commands.add_parser("up", parents=[sized], help="start the cluster (idempotent)")
    commands.add_parser("down", help="stop it and remove every trace")
    commands.add_parser("status", help="which daemons run; exit 0 when healthy")
    load = commands.add_parser("load", help="import docker images into every node")
    load.add_argument("images", nargs="+")
    for verb, text in (("stop", "lose worker node N at once"), ("start", "bring worker N back")):
        node = commands.add_parser(f"{verb}-node", help=text)
        node.add_argument("node", type=int, help="the node's number (2 to NODES)")
    args = parser.parse_args()

    paths = Paths(repo_root())
    try:
        count = config.parse_node_count(args.nodes) if "nodes" in args else 0
        if args.command in ("stop-node", "start-node"):
            action = lifecycle.stop_node if args.command == "stop-node" else lifecycle.start_node
            action(paths, args.node)
            return 0
    except ValueError as error:
        log(str(error))
        return 2
    if args.command == "packages":
        packages.ensure(workers=count > 1)
    elif args.command == "build":
        packages.ensure(workers=count > 1)
        lifecycle.build(paths, workers=count > 1)
    elif args.command == "up":
        lifecycle.up(paths, count)
    elif args.command == "down":
        teardown.down(paths)
    elif args.command == "status":
        return lifecycle.status(paths)
    else:
        lifecycle.load(paths, args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
