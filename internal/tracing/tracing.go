// Package tracing sets up optional OpenTelemetry tracing: an OTLP/HTTP
// exporter behind a batching TracerProvider. Nothing here is global: the
// provider is passed to the packages that make spans, and an empty endpoint
// gives a no-op provider that starts no goroutine and exports nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracesPath is the OTLP/HTTP path for traces, used when the endpoint names
// no path of its own.
const TracesPath = "/v1/traces"

// exportTimeout bounds one export request to the collector.
const exportTimeout = 5 * time.Second

// Setup returns a TracerProvider exporting to endpoint over OTLP/HTTP
// (protobuf), and the function that flushes and stops it.
//
// endpoint is "host:port" (plain HTTP to http://host:port/v1/traces), or an
// http(s) URL: without a path (or with "/") /v1/traces is appended, any other
// path is used as is. Empty endpoint: a no-op provider and a no-op shutdown.
// The exporter still reads the standard OTEL_EXPORTER_OTLP_* variables for
// what the endpoint does not say (headers, certificates, compression).
func Setup(ctx context.Context, endpoint, serviceName, version string) (shutdown func(context.Context) error, tp trace.TracerProvider, err error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, noop.NewTracerProvider(), nil
	}
	opts, err := endpointOptions(endpoint)
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, append(opts, otlptracehttp.WithTimeout(exportTimeout))...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", serviceName),
		attribute.String("service.version", version),
	))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	return sdk.Shutdown, sdk, nil
}

// errCredentials refuses an endpoint with credentials or a query, without
// repeating it.
var errCredentials = errors.New("tracing: endpoint must not carry credentials or a query (the exporter would not send them): give the collector's credentials in OTEL_EXPORTER_OTLP_HEADERS (e.g. Authorization=Basic …)")

// hostOK reports whether host, of a host:port endpoint, is an IP address,
// a host name, or empty (this host): the exporter puts it in a URL as is.
func hostOK(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// endpointOptions turns the configured endpoint into exporter options.
func endpointOptions(endpoint string) ([]otlptracehttp.Option, error) {
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tracing: endpoint URL must be an absolute http(s) URL")
		}
		// The exporter sends to scheme, host and path only: credentials or
		// a query (an api_key) would be dropped silently and every export
		// refused by a collector that wants them. The error does not
		// repeat the URL.
		if u.User != nil || u.RawQuery != "" || u.ForceQuery {
			return nil, errCredentials
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = TracesPath
		}
		return []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}, nil
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err == nil && strings.Contains(host, "@") {
		// The exporter makes host:port a URL's host: user info there is
		// no host, and every export would fail to resolve it.
		return nil, errCredentials
	}
	if err != nil || !hostOK(host) {
		return nil, fmt.Errorf("tracing: endpoint must be host:port or an http(s) URL")
	}
	return []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(endpoint),
		otlptracehttp.WithURLPath(TracesPath),
		otlptracehttp.WithInsecure(),
	}, nil
}
