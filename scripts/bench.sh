#!/usr/bin/env bash
# bench.sh — the benchmarks behind docs/benchmarks.md.
#
#   scripts/bench.sh            micro-benchmarks + load harness, results in testout/bench/
#   BENCH_SKIP_LOAD=1 ...       micro-benchmarks only
#   BENCH_SKIP_MICRO=1 ...      load harness only
#
# Tunables (environment): CALLPASS_BENCH_DURATION (3s per scenario, and as
# much again for each baseline it is interleaved with),
# CALLPASS_BENCH_SLICES (3 alternating slices per scenario),
# CALLPASS_BENCH_REPS (3), CALLPASS_BENCH_WORKERS (16),
# CALLPASS_BENCH_STEPUP_POOL (800 step-up sessions per repetition),
# BENCH_TIME (go test -benchtime, default 1s), BENCH_COUNT (go test -count, 3),
# CALLPASS_BENCH_ONLY (a regular expression: only the load scenarios it
# matches, e.g. '^reject-' or '-redis$'; "redis-counts" names the Redis
# round-trip and memory counts).
# Everything runs on 127.0.0.1 only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/testout/bench"
mkdir -p "$out"

# redis-server, Kratos: the same installers the tests use.
if [[ -x scripts/install-deps.sh ]] && ! command -v redis-server >/dev/null; then
	scripts/install-deps.sh
fi
scripts/kratos.sh path >/dev/null

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "nproc: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	echo "go: $(go version)"
	echo "loadavg: $(cat /proc/loadavg)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

if [[ -z "${BENCH_SKIP_MICRO:-}" ]]; then
	echo "== micro-benchmarks" >&2
	go test -run '^$' -bench . -benchmem -benchtime "${BENCH_TIME:-1s}" -count "${BENCH_COUNT:-3}" \
		./jwt/ ./plugin/challenge/... ./plugin/store/... ./plugin/callpass/... ./plugin/phone/ ./bench/ \
		2>&1 | tee "$out/micro.txt"

	# The per-challenge memory tests print their figures with -v.
	go test -count=1 -run 'TestHeapPerPendingChallenge|TestMemoryUsagePerPendingChallenge' -v \
		./plugin/store/memory/ ./plugin/store/redis/ 2>&1 | tee "$out/memory-tests.txt"
fi

if [[ -z "${BENCH_SKIP_LOAD:-}" ]]; then
	echo "== load harness" >&2
	CALLPASS_LOADBENCH=1 CALLPASS_BENCH_OUT="$out" \
		go test -count=1 -run '^TestLoadBench$' -v -timeout 60m ./bench/ 2>&1 |
		grep -v 'level=info' >"$out/load.log" || { tail -50 "$out/load.log"; exit 1; }
	cat "$out/summary.md"
fi
echo "raw results in $out" >&2
