#!/usr/bin/env bash
# demo.sh — the whole stack on this machine, no Docker: a real Ory Kratos
# v1.3.1 (built once and cached by scripts/kratos.sh), callpass-kratos in dev
# mode with the CallPass simulator, the self-service UI and the example app.
#
#   bash scripts/demo.sh           # Ctrl-C stops everything
#   bash scripts/demo.sh --logs    # also stream every part's log
#
# The supervisor (examples/demo) is built first and then replaces this shell,
# so Ctrl-C and SIGTERM reach it directly and it stops every part it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .callpass-dev/demo/bin
go build -o .callpass-dev/demo/bin/demo ./examples/demo
exec .callpass-dev/demo/bin/demo --root "$root" "$@"
