package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Redacted is the effective configuration as nested maps keyed like the
// YAML file, every set secret replaced by "***" (and so are the user info
// and the query values of any other URL: a Kratos or OTLP URL may carry
// credentials) and durations written as "30s". Marshalled to YAML it is a
// valid config file (minus the secrets), which is what
// `config validate --print` shows.
func (c *Config) Redacted() map[string]any {
	out := map[string]any{}
	for _, e := range keys {
		parts := strings.Split(e.key, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = printable(e.field(c), e.secret)
	}
	return out
}

func printable(p any, secret bool) any {
	if secret {
		if l, ok := p.(*[]string); ok {
			// A list stays a list (sim.tokens), or the printed file
			// is refused where the list belongs.
			out := make([]string, len(*l))
			for i := range out {
				out[i] = "***"
			}
			return out
		}
		if formatValue(p) == "" {
			return ""
		}
		return "***"
	}
	switch v := p.(type) {
	case *string:
		return redactURL(*v)
	case *int:
		return *v
	case *bool:
		return *v
	case *time.Duration:
		return formatDuration(*v)
	case *[]string:
		return append([]string{}, *v...)
	case *[]time.Duration:
		out := make([]string, len(*v))
		for i, d := range *v {
			out[i] = formatDuration(d)
		}
		return out
	case *map[string]string:
		out := make(map[string]string, len(*v))
		for k, s := range *v {
			out[k] = s
		}
		return out
	}
	return formatValue(p) // panics for an unsupported type, like every other switch
}

// redactURL replaces the user info and the query values of a URL with
// "***"; any other string is returned as it is.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// It does not parse, so it cannot be cut into parts: a value that
		// may hold credentials is not printed.
		return "***"
	}
	if u.User == nil && u.RawQuery == "" {
		return s
	}
	hadUser := u.User != nil
	u.User = nil
	if u.RawQuery != "" {
		names := slices.Sorted(maps.Keys(u.Query()))
		for i, n := range names {
			names[i] = url.QueryEscape(n) + "=***"
		}
		u.RawQuery = strings.Join(names, "&")
	}
	out := u.String()
	if hadUser {
		// Written by hand: url.User would %-escape the asterisks.
		out = strings.Replace(out, "://", "://***@", 1)
	}
	return out
}
