package config

import (
	"strings"
	"time"
)

// Redacted is the effective configuration as nested maps keyed like the
// YAML file, every set secret replaced by "***" and durations written as
// "30s". Marshalled to YAML it is a valid config file (minus the secrets),
// which is what `config validate --print` shows.
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
		if formatValue(p) == "" {
			return ""
		}
		return "***"
	}
	switch v := p.(type) {
	case *string:
		return *v
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
