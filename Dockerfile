# syntax=docker/dockerfile:1
#
# One small image with three static binaries:
#   /usr/local/bin/callpass-kratos   the service (default entrypoint)
#   /usr/local/bin/ui                examples/ui, the Kratos self-service UI
#   /usr/local/bin/app               examples/app, the JWT-protected example app
#
#   docker build -t callpass-kratos .
#   docker run --rm callpass-kratos version
#
# The runtime stage is distroless (no shell, no curl), so the image has no
# HEALTHCHECK; orchestrators probe GET /health/alive and /health/ready on
# :4477 (the UI and the app answer GET /healthz) from outside.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer stays cached while only the sources change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-trimpath
RUN go build -ldflags="-s -w" -o /out/bin/callpass-kratos ./cmd/callpass-kratos \
 && go build -ldflags="-s -w" -o /out/bin/ui ./examples/ui \
 && go build -ldflags="-s -w" -o /out/bin/app ./examples/app \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/ /usr/local/bin/
# Writable by the non-root user: --dev keeps generated keys here (mount a volume).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV DEV_DATA_DIR=/data
# callpass-kratos, examples/ui, examples/app
EXPOSE 4477 4455 4480
ENTRYPOINT ["/usr/local/bin/callpass-kratos"]
CMD ["serve"]
