package config

import (
	"fmt"
	"sort"
	"strings"
)

// envTypos names environment variables that look like a misspelt
// configuration variable (LIMITS_GLOBAL_DAILY_LIMT, serve_listen): they
// would be ignored silently and the default used. Only a variable of a
// configuration section (its part before the first '_') and within two
// edits of a real one is named, so the rest of the environment (PATH,
// Kratos's own variables, other tools') is left alone. Values are never
// read: a misspelt variable may hold a secret.
func envTypos(env []string) []string {
	known := map[string]bool{}
	plain := map[string]bool{} // the variables of keys that are no secret
	sections := map[string][]string{}
	for _, e := range keys {
		names := []string{e.env()}
		if e.secret {
			names = append(names, e.fileEnv())
		} else {
			plain[e.env()] = true
		}
		for _, n := range names {
			known[n] = true
			sec, _, _ := strings.Cut(n, "_")
			sections[sec] = append(sections[sec], n)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "" || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		upper := strings.ToUpper(name)
		// KRATOS_ADMIN_URL_FILE: the _FILE form of Docker's secrets for a
		// key that has none (five edits away: no typo below).
		if base, ok := strings.CutSuffix(upper, "_FILE"); ok && plain[base] {
			out = append(out, fmt.Sprintf("environment variable %s is not a configuration variable and is ignored: only secrets are read from a file: set %s itself", name, base))
			continue
		}
		sec, _, _ := strings.Cut(upper, "_")
		best, bestDist := "", 3
		for _, n := range sections[sec] {
			if d := editDistance(upper, n, bestDist); d < bestDist {
				best, bestDist = n, d
			}
		}
		if best != "" {
			out = append(out, fmt.Sprintf("environment variable %s is not a configuration variable and is ignored: did you mean %s?", name, best))
		}
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// limit or more (the rows stop early).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
