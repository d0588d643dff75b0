# The test cluster (cluster/, docs/cluster.md): the host as control plane and node 1, plus
# NODES-1 worker nodes in Docker containers. Everything runs as root. The harness is
# standard-library Python: it runs with the machine's python3, before `make sync` and during
# teardown; only the test suites need the project's venv.
CLUSTER_PYTHON ?= python3
CLUSTER := cd $(ROOT) && PATH="$(PATH):/usr/local/go/bin" $(CLUSTER_PYTHON) -m cluster
CLUSTER_KUBECONFIG ?= $(ROOT)/.cluster/kubeconfig
# Nodes, the host's included; 1 is the single-node cluster, which needs no Docker engine.
NODES ?= 3
# Workers are containers: a Docker engine first (mk/image.mk).
CLUSTER_ENGINE := $(if $(filter-out 1,$(NODES)),docker-engine)

.PHONY: cluster-build
cluster-build: $(CLUSTER_ENGINE) ## Compile the cluster's binaries, write its images, build the node image if NODES>1 (only what is missing or stale).
	@$(CLUSTER) build --nodes $(NODES)

.PHONY: cluster-up
cluster-up: $(CLUSTER_ENGINE) ## Start the test cluster with NODES nodes (default 3, the host's included; idempotent; writes .cluster/kubeconfig).
	@$(CLUSTER) up --nodes $(NODES)

.PHONY: cluster-load
cluster-load: ## Import docker images into every node: make cluster-load IMAGES="a:1 b:2".
	@test -n "$(IMAGES)" || { echo 'usage: make cluster-load IMAGES="name:tag ..."' >&2; exit 2; }
	@$(CLUSTER) load $(IMAGES)

.PHONY: cluster-down
cluster-down: ## Stop the test cluster and remove its containers, processes, mounts, interfaces, routes and rules.
	@$(CLUSTER) down

.PHONY: cluster-status
cluster-status: ## Show which of the cluster's daemons run, per node (exit 0 when healthy).
	@$(CLUSTER) status

.PHONY: cluster-node-stop
cluster-node-stop: ## Lose worker node NODE at once (its container is killed): make cluster-node-stop NODE=3.
	@test -n "$(NODE)" || { echo 'usage: make cluster-node-stop NODE=N (2 to NODES)' >&2; exit 2; }
	@$(CLUSTER) stop-node $(NODE)

.PHONY: cluster-node-start
cluster-node-start: ## Boot worker node NODE again and wait until it is Ready: make cluster-node-start NODE=3.
	@test -n "$(NODE)" || { echo 'usage: make cluster-node-start NODE=N (2 to NODES)' >&2; exit 2; }
	@$(CLUSTER) start-node $(NODE)

# With the harness's cluster, the suite also checks the node count it was started with.
.PHONY: cluster-test
cluster-test: sync ## Smoke suite (tests/cluster) against KUBECONFIG if set, else the test cluster's kubeconfig.
	if [ -z "$${KUBECONFIG:-}" ] && [ -f .cluster/state/node-count ]; then export CLUSTER_NODES=$$(cat .cluster/state/node-count); fi; \
	KUBECONFIG="$${KUBECONFIG:-$(CLUSTER_KUBECONFIG)}" $(call PYTEST,tests/cluster)

.PHONY: cluster-lifecycle
cluster-lifecycle: sync $(CLUSTER_ENGINE) ## Up with 1 and NODES nodes, lose and restore a worker, down, and prove nothing is left (tests/cluster_lifecycle; no cluster may be running).
	NODES=$(NODES) $(call PYTEST,tests/cluster_lifecycle)

# `make test` also runs the harness's unit tests (no root, no cluster).
.PHONY: test-harness
test-harness: sync ## Unit tests of the cluster harness (tests/harness).
	$(call PYTEST,tests/harness)

.PHONY: test
test: test-harness
