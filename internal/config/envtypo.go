package config

import (
	"fmt"
	"sort"
	"strings"
)

// envTypos names environment variables that look like a misspelt
// configuration variable (LIMITS_GLOBAL_DAILY_LIMT, serve_listen,
// SERVER_LISTEN): they would be ignored silently and the default used. Only
// a variable whose part before the first '_' is a configuration section or
// one edit from one (SERVER, WEBHOOKS), and within two edits of a real
// variable, is named, so the rest of the environment (PATH, Kratos's own
// variables, other tools') is left alone. Values are never read: a
// misspelt variable may hold a secret.
func envTypos(env []string) []string {
	known := map[string]bool{}
	plain := map[string]bool{} // the variables of keys that are no secret
	type variable struct{ name, section string }
	var vars []variable // in table order: a tie names the first
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
			vars = append(vars, variable{n, sec})
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
		for _, v := range vars {
			if v.section != sec && editDistance(sec, v.section, 2) > 1 {
				continue
			}
			if d := editDistance(upper, v.name, bestDist); d < bestDist {
				best, bestDist = v.name, d
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
