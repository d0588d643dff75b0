"""A one-node Kubernetes cluster for tests, built from pinned upstream Go modules.

`python -m cluster up|down|build|load|status`; the Makefile targets in `mk/cluster.mk` call it.
Standard library only, so it runs before `make sync` and during teardown.
"""
