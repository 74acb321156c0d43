# jq-ctl: the operator CLI, for one-off commands in a cluster or CI job:
#
#   docker run --rm -e JQ_SERVER_ADDR=jq-server:50051 -e JQ_TOKEN_FILE=/keys/admin.key jq-ctl system status
#
# Build from the repository root (`make docker-build` builds all three images):
#
#   docker build -f deploy/docker/Dockerfile.ctl --build-arg VERSION=... --build-arg COMMIT=... -t jq-ctl .
#
# Base images are pinned by tag AND digest; Dependabot (.github/dependabot.yml) updates the
# digest. See Dockerfile.server for why there is no `# syntax=` line.

# ---- build -------------------------------------------------------------------------------------
FROM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
ENV GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# The same -ldflags as `make build` (Makefile: LDFLAGS).
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/jqhq/jq/internal/buildinfo.Version=${VERSION} -X github.com/jqhq/jq/internal/buildinfo.Commit=${COMMIT} -X github.com/jqhq/jq/internal/buildinfo.Date=${DATE}" \
      -o /out/jq-ctl ./cmd/jq-ctl

# ---- rootfs ------------------------------------------------------------------------------------
FROM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS rootfs
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && echo 'jq:x:1001:1001:jq:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'jq:x:1001:' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && chmod 1777 /rootfs/tmp

# ---- runtime -----------------------------------------------------------------------------------
FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
ARG SOURCE=https://github.com/jqhq/jq
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="jq-ctl" \
      org.opencontainers.image.description="jq operator CLI" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${DATE}" \
      org.opencontainers.image.licenses="${LICENSES}"
COPY --from=rootfs /rootfs/ /
COPY --from=build /out/jq-ctl /usr/local/bin/
USER 1001:1001
# A CLI, not a service: no HEALTHCHECK, no EXPOSE.
ENTRYPOINT ["/usr/local/bin/jq-ctl"]
CMD ["--help"]
