# End-to-end suite on a real cluster: raw manifests, Helm 3/4 lifecycle, failure drills.
# Runs against $KUBECONFIG, else the test cluster's (.cluster/kubeconfig); builds and loads nothing.
# Derived images with an extra migration: `make e2e-images`; into the test cluster: `make e2e-load`.
E2E_IMAGE_DIR := tests/e2e/images
E2E_REVISIONS := $(E2E_IMAGE_DIR)/revisions
E2E_POSTGRES_IMAGE ?= $(POSTGRES_IMAGE)
# The major-upgrade drill's target (tests/e2e/test_12_major_upgrade.py; `make base-images` builds it).
E2E_POSTGRES_NEXT_IMAGE ?= localhost/platform-postgres:17
# platform-api:1.0.0 -> repository platform-api; the derived tags live next to it. Recursive
# variables: IMAGE comes from mk/image.mk, which is included after this file.
E2E_REPOSITORY = $(firstword $(subst :, ,$(IMAGE)))
E2E_IMAGE_NEW ?= $(E2E_REPOSITORY):1.0.1-e2e
E2E_IMAGE_BAD ?= $(E2E_REPOSITORY):1.0.2-bad
E2E_IMAGE_SLOW ?= $(E2E_REPOSITORY):1.0.3-slow
# The upgrade test's starting point: a commit of this repository (tests/e2e/baseline.txt),
# its image built from `git archive` of that commit, tagged with the short commit.
E2E_BASELINE := $(shell sed -n '/^[0-9a-f]\{7,40\}$$/{p;q}' $(ROOT)/tests/e2e/baseline.txt)
E2E_IMAGE_BASELINE ?= $(E2E_REPOSITORY):$(E2E_BASELINE)
# The backup drills' S3 server (tests/e2e/test_10_backup.py): VERSITYGW_IMAGE from mk/backup.mk.
E2E_VERSITYGW_IMAGE = $(VERSITYGW_IMAGE)
E2E_ALL_IMAGES = $(IMAGE) $(E2E_IMAGE_NEW) $(E2E_IMAGE_BAD) $(E2E_IMAGE_SLOW) $(E2E_IMAGE_BASELINE) \
	$(E2E_POSTGRES_IMAGE) $(E2E_POSTGRES_NEXT_IMAGE) $(E2E_VERSITYGW_IMAGE)
export E2E_IMAGE_NEW E2E_IMAGE_BAD E2E_IMAGE_SLOW E2E_IMAGE_BASELINE E2E_POSTGRES_IMAGE \
	E2E_POSTGRES_NEXT_IMAGE E2E_VERSITYGW_IMAGE
export E2E_IMAGE_OLD = $(IMAGE)

# One derived image: $(call e2e_image,TAG,REVISION_FILE).
e2e_image = DOCKER_BUILDKIT=1 $(DOCKER) build -q -f $(E2E_IMAGE_DIR)/Dockerfile \
	--build-arg BASE_IMAGE=$(IMAGE) --build-arg VERSION=$(lastword $(subst :, ,$(1))) \
	--build-arg REVISION_FILE=revisions/$(2) -t $(1) $(E2E_IMAGE_DIR)

.PHONY: e2e-images
e2e-images: docker-engine e2e-baseline-image versitygw-image ## Build the e2e images on $(IMAGE): an expand migration (1.0.1-e2e), a failing one (1.0.2-bad), a slow one (1.0.3-slow); the baseline's; versitygw for the backup drills.
	@$(DOCKER) image inspect $(IMAGE) >/dev/null 2>&1 || { echo "$(IMAGE) is missing: run make image" >&2; exit 1; }
	$(call e2e_image,$(E2E_IMAGE_NEW),2026_11_26_0003_e2e_expand.py)
	$(call e2e_image,$(E2E_IMAGE_BAD),2026_11_26_0003_e2e_bad.py)
	$(call e2e_image,$(E2E_IMAGE_SLOW),2026_11_26_0003_e2e_slow.py)

# A commit's image never changes, so an existing one is kept (the image stage's cache makes a
# rebuild cheap anyway). Its own Dockerfile, on the same base image as today's build.
.PHONY: e2e-baseline-image
e2e-baseline-image: docker-engine ## Build $(E2E_IMAGE_BASELINE) from `git archive $(E2E_BASELINE)` (the upgrade test's starting point).
	@test -n "$(E2E_BASELINE)" || { echo "no commit in tests/e2e/baseline.txt" >&2; exit 1; }
	$(DOCKER) image inspect $(E2E_IMAGE_BASELINE) >/dev/null 2>&1 || { \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	  && git -C $(ROOT) archive $(E2E_BASELINE) | tar -x -C "$$tmp" \
	  && DOCKER_BUILDKIT=1 $(DOCKER) build -q -f "$$tmp/docker/Dockerfile" -t $(E2E_IMAGE_BASELINE) \
	     $(if $(PYTHON_BASE),--build-arg PYTHON_BASE=$(PYTHON_BASE)) \
	     --build-arg VERSION=$(E2E_BASELINE) --build-arg REVISION=$(E2E_BASELINE) \
	     $(if $(wildcard $(CA_BUNDLE)),--secret id=ca$(image_comma)src=$(CA_BUNDLE)) "$$tmp"; }

.PHONY: e2e-load
e2e-load: ## Load the app, e2e and PostgreSQL images into the test cluster (make cluster-up first).
	@$(MAKE) cluster-load IMAGES="$(E2E_ALL_IMAGES)"

# Two phases: every module but the disruptive ones in parallel, one module per pytest-xdist
# worker (E2E_WORKERS; 0 runs them in one process), then the `disruptive` ones (node drills)
# alone. Both phases run even when the first fails; E2E_ARGS reaches both (e.g. -k backup).
E2E_WORKERS ?= 3
E2E_ARGS ?=
e2e_pytest = KUBECONFIG="$${KUBECONFIG:-$(CLUSTER_KUBECONFIG)}" HELM3="$(BIN)/helm" \
	HELM4="$(BIN)/helm4" E2E_PHASE=$(1) $(RUN) pytest tests/e2e $(2) $(E2E_ARGS) \
	|| { rc=$$?; [ $$rc -eq 5 ] && echo "e2e $(1): no tests selected" || status=$$rc; }

.PHONY: e2e
e2e: sync tools-chart ## End-to-end suite (tests/e2e) against KUBECONFIG, else .cluster/kubeconfig; images must be on the nodes.
	mkdir -p build/e2e
	status=0; \
	$(call e2e_pytest,parallel,-m "not disruptive" -n $(E2E_WORKERS) --dist loadfile); \
	$(call e2e_pytest,disruptive,-m disruptive); \
	exit $$status
