# A one-node Kubernetes for tests (cluster/, docs/cluster.md). Everything runs as root.
# The harness is standard-library Python: it runs with the machine's python3, before
# `make sync` and during teardown; only the smoke suite needs the project's venv.
CLUSTER_PYTHON ?= python3
CLUSTER := cd $(ROOT) && PATH="$(PATH):/usr/local/go/bin" $(CLUSTER_PYTHON) -m cluster
CLUSTER_KUBECONFIG ?= $(ROOT)/.cluster/kubeconfig

.PHONY: cluster-build
cluster-build: ## Compile the cluster's binaries and images (only what is missing or stale).
	@$(CLUSTER) build

.PHONY: cluster-up
cluster-up: ## Start the one-node test cluster (idempotent; writes .cluster/kubeconfig).
	@$(CLUSTER) up

.PHONY: cluster-load
cluster-load: ## Import docker images into the cluster's node: make cluster-load IMAGES="a:1 b:2".
	@test -n "$(IMAGES)" || { echo 'usage: make cluster-load IMAGES="name:tag ..."' >&2; exit 2; }
	@$(CLUSTER) load $(IMAGES)

.PHONY: cluster-down
cluster-down: ## Stop the test cluster and remove its processes, mounts, interfaces and rules.
	@$(CLUSTER) down

.PHONY: cluster-status
cluster-status: ## Show which of the cluster's daemons run (exit 0 when healthy).
	@$(CLUSTER) status

.PHONY: cluster-test
cluster-test: sync ## Smoke suite against KUBECONFIG if set, else the test cluster's kubeconfig.
	KUBECONFIG="$${KUBECONFIG:-$(CLUSTER_KUBECONFIG)}" $(RUN) pytest tests/cluster
