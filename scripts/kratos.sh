#!/usr/bin/env bash
# kratos.sh — build and cache the Ory Kratos binary the tests and demos use.
#
#   scripts/kratos.sh path    print the cached binary's path, building it first if missing
#   scripts/kratos.sh build   (re)build the cached binary even if it exists
#
# Kratos's go.mod has replace directives, so `go install` refuses it; tools/kratos
# is a separate module that declares it as a tool dependency and copies the
# replaces. The cache is keyed by version so tests and CI build it once.
set -euo pipefail

KRATOS_VERSION=v1.3.1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${CALLPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callpass-kratos}"
dir="$cache_root/kratos-$KRATOS_VERSION"
bin="$dir/kratos"

usage() {
	echo "usage: $0 path|build" >&2
	exit 2
}

build() {
	mkdir -p "$dir"
	# One builder at a time: a second caller waits, then finds the binary.
	exec 9>"$dir/.lock"
	flock 9
	if [[ "${1:-}" != force && -x "$bin" ]]; then
		return 0
	fi
	# Build into a temporary name in the same directory and rename it: a
	# killed build never leaves a half-written binary behind.
	tmp="$(mktemp "$dir/.kratos.XXXXXX")"
	trap 'rm -f "$tmp"' EXIT
	echo "building Kratos $KRATOS_VERSION into $bin (a cold build takes a few minutes)" >&2
	(cd "$root/tools/kratos" && GOWORK=off go build -tags sqlite \
		-ldflags "-X github.com/ory/kratos/driver/config.Version=$KRATOS_VERSION" \
		-o "$tmp" github.com/ory/kratos) >&2
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	trap - EXIT
}

case "${1:-}" in
path)
	[[ -x "$bin" ]] || build
	echo "$bin"
	;;
build)
	build force
	echo "$bin"
	;;
*) usage ;;
esac
