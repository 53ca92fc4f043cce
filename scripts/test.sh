#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what tests need, builds the
# real Kratos and fetches promtool once (cached), then runs every check and
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
kratos_bin="$(bash scripts/kratos.sh path)"
export CALLPASS_KRATOS_BIN="$kratos_bin"
echo "test: kratos at $kratos_bin"
# promtool checks and unit-tests examples/monitoring/alerts.yml (cached too).
promtool_bin="$(bash scripts/promtool.sh path)"
export CALLPASS_PROMTOOL_BIN="$promtool_bin"
echo "test: promtool at $promtool_bin"

echo "test: gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*'))"
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "test: go vet"
go vet ./...

# No -short: every integration test (Kratos, redis-server, Chromium) runs,
# and a missing part fails the test instead of skipping it.
echo "test: go test"
go test -count=1 -timeout 30m ./... 2>&1 | tee /tmp/callpass-test.log
echo "test: go test -race (concurrency-critical packages)"
go test -count=1 -race -timeout 20m ./plugin/challenge/... ./plugin/store/... ./plugin/limit/... ./plugin/callpass/... ./plugin/kratos/... ./jwt/... ./webhook/
