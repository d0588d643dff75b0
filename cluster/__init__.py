"""A Kubernetes cluster for tests, built from pinned upstream Go modules: the host as control
plane and node 1, worker nodes in Docker containers.

`python -m cluster up|down|build|load|status|stop-node|start-node|packages`; the Makefile
targets in `mk/cluster.mk` call it. Standard library only, so it runs before `make sync` and
during teardown.
"""
