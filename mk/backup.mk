# Backups: the pinned S3 server's image. Included by the top-level Makefile.
# versitygw is built from its Go module (tools/go/versitygw, tools/versitygw.py) into .cache/,
# the same binary the backup tests run; the image is that static binary alone, non-root.
VERSITYGW_VERSION := $(shell sed -n 's/^[[:space:]]*github.com\/versity\/versitygw v\([^ ]*\).*/\1/p' $(ROOT)/tools/go/versitygw/go.mod)
VERSITYGW_IMAGE ?= localhost/versitygw:$(VERSITYGW_VERSION)
export VERSITYGW_IMAGE

.PHONY: versitygw-image
versitygw-image: docker-engine ## Build localhost/versitygw:<version> (static binary, uid 10001) for the in-cluster S3 store.
	context=$$(mktemp -d) && trap 'rm -rf "$$context"' EXIT \
	  && cp "$$(PATH="$(PATH):/usr/local/go/bin" python3 tools/versitygw.py)" "$$context/versitygw" \
	  && DOCKER_BUILDKIT=1 $(DOCKER) build -q -f docker/versitygw/Dockerfile \
	     --build-arg VERSION=$(VERSITYGW_VERSION) -t $(VERSITYGW_IMAGE) "$$context" >/dev/null
	@$(DOCKER) image prune -f --filter label=org.opencontainers.image.title=versitygw >/dev/null
	@echo "$(VERSITYGW_IMAGE): $$($(DOCKER) image inspect --format '{{.Size}}' $(VERSITYGW_IMAGE) | awk '{printf "%.0f MB", $$1/1e6}')"

# The image tests cover it (tests/image/test_versitygw_image.py).
image-test: versitygw-image
