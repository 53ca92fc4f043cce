# syntax=docker/dockerfile:1
#
# One small image with three static binaries:
#   /usr/local/bin/callpass-kratos   the service (default entrypoint)
#   /usr/local/bin/ui                examples/ui, the Kratos self-service UI
#   /usr/local/bin/app               examples/app, the JWT-protected example app
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t callpass-kratos .
#   docker run --rm callpass-kratos version
#
# VERSION is what `callpass-kratos version` prints (the build context has no
# .git, so the image cannot tell its commit by itself; "dev" without it).
#
# The runtime stage is distroless (no shell, no curl), so the image has no
# HEALTHCHECK; orchestrators probe GET /health/alive and /health/ready on
# :4477 from outside. The service listens on 0.0.0.0:4477 in the image
# (SERVE_LISTEN below; the built-in default is 127.0.0.1:4477, which a port
# mapping or a probe cannot reach). `-e SERVE_LISTEN=...` replaces it; as
# every environment variable it overrides a config file's serve.listen, so to
# use the file's value pass an empty `-e SERVE_LISTEN=` (empty counts as
# unset). Without --dev, set SERVE_BASE_URL too (the URL browsers and apps
# reach the service at: the tokens' issuer): with a non-loopback listen the
# service refuses to start on the 127.0.0.1 default. The UI and the app (GET
# /healthz) keep their 127.0.0.1 defaults: set UI_LISTEN / CALLPASS_APP_LISTEN
# as docker-compose.yml does.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer stays cached while only the sources change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-trimpath
ARG VERSION=dev
RUN go build -ldflags="-s -w -X github.com/callpass-kratos/callpass-kratos/internal/cli.Version=${VERSION}" -o /out/bin/callpass-kratos ./cmd/callpass-kratos \
 && go build -ldflags="-s -w" -o /out/bin/ui ./examples/ui \
 && go build -ldflags="-s -w" -o /out/bin/app ./examples/app \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/ /usr/local/bin/
# Writable by the non-root user: --dev keeps generated keys here (mount a volume).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV DEV_DATA_DIR=/data SERVE_LISTEN=0.0.0.0:4477
# callpass-kratos, examples/ui, examples/app
EXPOSE 4477 4455 4480
ENTRYPOINT ["/usr/local/bin/callpass-kratos"]
CMD ["serve"]
