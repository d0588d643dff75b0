# Container images: engine bootstrap, air-gapped base images, the app image and its tests.
# Debian's docker CLI (20.10) has BuildKit built in; the v28 CLI first on PATH has no buildx.
DOCKER ?= /usr/bin/docker
export DOCKER
VERSION := $(shell $(PYTHON_BOOTSTRAP) -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' $(ROOT)/pyproject.toml)
REVISION := $(shell git -C $(ROOT) rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_SOURCE ?= $(shell git -C $(ROOT) remote get-url origin 2>/dev/null || echo https://example.invalid/platform)
IMAGE ?= platform-api:$(VERSION)
export IMAGE
# These machines reach no registry: build on the Debian stand-in by default. `PYTHON_BASE=`
# (empty) keeps the Dockerfile's default, the pinned official python:3.11-slim.
PYTHON_BASE ?= localhost/platform-python:3.11-slim
POSTGRES_IMAGE ?= localhost/platform-postgres:15
export POSTGRES_IMAGE
# The TLS-intercepting proxy's CA reaches the build as a BuildKit secret, never as a layer.
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
image_comma := ,
IMAGE_BUILD_ARGS = -f docker/Dockerfile -t $(IMAGE) \
	$(if $(PYTHON_BASE),--build-arg PYTHON_BASE=$(PYTHON_BASE)) \
	--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	--build-arg SOURCE=$(IMAGE_SOURCE) \
	$(if $(wildcard $(CA_BUNDLE)),--secret id=ca$(image_comma)src=$(CA_BUNDLE))

.PHONY: docker-engine
docker-engine: ## Install (Debian docker.io) and start a Docker engine if none answers.
	bash docker/engine.sh

.PHONY: base-images
base-images: docker-engine ## Build localhost/platform-python:3.11-slim and localhost/platform-postgres:15 and :17 from Debian packages.
	bash docker/base/build.sh

.PHONY: image
image: docker-engine ## Build the app image platform-api:$(VERSION) (PYTHON_BASE=... to change the base).
	@case "$(PYTHON_BASE)" in localhost/*) $(DOCKER) image inspect $(PYTHON_BASE) >/dev/null 2>&1 \
		|| { echo "$(PYTHON_BASE) is missing: run make base-images" >&2; exit 1; } ;; esac
	DOCKER_BUILDKIT=1 $(DOCKER) build $(IMAGE_BUILD_ARGS) .
	@# The build this one replaced, if any (untagged, same title label).
	@$(DOCKER) image prune -f --filter label=org.opencontainers.image.title=platform-api >/dev/null

.PHONY: sbom
sbom: image ## Copy the image's CycloneDX SBOM (built from what uv.lock installed) to build/sbom/platform-api-$(VERSION).cdx.json.
	mkdir -p build/sbom
	$(DOCKER) run --rm --entrypoint cat $(IMAGE) /usr/share/doc/platform-api/sbom.cdx.json \
		> build/sbom/platform-api-$(VERSION).cdx.json
	@echo "build/sbom/platform-api-$(VERSION).cdx.json"

.PHONY: image-test
image-test: sync image ## Build the image, test it with real containers (tests/image), print the image report.
	PYTHON_BASE=$(PYTHON_BASE) $(RUN) pytest tests/image
	PYTHON_BASE=$(PYTHON_BASE) $(RUN) python tools/image_report.py

.PHONY: image-report
image-report: sync image ## Image size vs base, start -> /health time vs a bare uvicorn image.
	PYTHON_BASE=$(PYTHON_BASE) $(RUN) python tools/image_report.py
