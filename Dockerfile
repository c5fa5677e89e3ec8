# vibepass serve in a container: docs/deploy.md says how to build, configure and run it,
# and what was verified without a Docker engine (TestImageBuildServesFromTheEnvironment
# builds the binary with this file's own go build line and runs it as the image would).

# Build stage: the Go release go.mod names (its minor version; the test checks they agree).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version --version prints: docker build --build-arg VERSION=$(git describe --tags --always) .
# (.git stays out of the build context, so Go cannot stamp the revision itself.)
ARG VERSION=devel
# A static binary (no libc to match in the final image), with no build paths in it.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o /out/vibepass ./cmd/vibepass

# Final stage: no shell, no package manager; CA certificates (for a hosted Supabase URL or
# JWKS over https) and tzdata included; runs as the nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vibepass /usr/local/bin/vibepass
USER nonroot:nonroot
# Listen on 0.0.0.0:8080 unless the platform gives another PORT or VIBEPASS_LISTEN is set;
# /metrics on 9464 of the container's address, for Prometheus to scrape the pod (keep it
# out of the public Service; Cloud Run and the like route PORT alone).
ENV PORT=8080 VIBEPASS_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 8080 9464
# No HEALTHCHECK: the orchestrator probes /healthz and /readyz (docs/deploy.md), and the
# image has no shell or curl to run one with.
ENTRYPOINT ["/usr/local/bin/vibepass", "serve"]
