# The walkthrough (docs/tutorial.md, demo/): `make demo` takes a fresh clone to the platform
# on the test cluster and a port-forward; `make demo-down` removes it all; `make tutorial` runs
# the tutorial's commands and checks their output. PYTHON_BASE, IMAGE, POSTGRES_IMAGE and NODES
# come from mk/image.mk and mk/cluster.mk; the demo needs only helm 3 of the chart tools (mk/chart.mk).
DEMO = cd $(ROOT) && PYTHON_BASE="$(PYTHON_BASE)" NODES="$(NODES)" $(RUN) python -m demo

.PHONY: demo
demo: sync $(HELM3_STAMP) ## Fresh clone to the platform on the test cluster (or KUBECONFIG's), then a port-forward on DEMO_PORT (8080) until Ctrl-C.
	@$(DEMO) up

.PHONY: demo-down
demo-down: sync $(HELM3_STAMP) ## Remove the demo's release, its namespace and the test cluster (built images and caches stay).
	@$(DEMO) down

.PHONY: tutorial
tutorial: sync tools-chart ## Run docs/tutorial.md's commands in order on the test cluster and check their output (tests/tutorial).
	$(call PYTEST,tests/tutorial)

.PHONY: demo-test
demo-test: sync tools-chart ## tests/demo: `make demo` twice (no cluster running, then everything up), Ctrl-C, `make demo-down`, nothing left; no cluster may be running.
	$(call PYTEST,tests/demo)
