#!/usr/bin/env bash
# promtool.sh — fetch and cache Prometheus's promtool, which the monitoring
# tests use to parse and unit-test examples/monitoring/alerts.yml.
#
#   scripts/promtool.sh path    print the cached binary's path, fetching it first if missing
#   scripts/promtool.sh fetch   (re)fetch the cached binary even if it exists
#
# promtool comes from Debian 12's prometheus package. Installing that package
# would also install (and start) a Prometheus server, so the .deb is only
# downloaded (apt-get download) and unpacked (dpkg-deb -x) in a temporary
# directory, and only /usr/bin/promtool is kept. The cache is keyed by version.
set -euo pipefail

PROMETHEUS_VERSION=2.42.0
# Debian 12 ships 2.42.0+ds-5+deb12u1. The candidate is downloaded (a later
# Debian revision replaces the old one in the archive) and its promtool must
# report PROMETHEUS_VERSION.
cache_root="${CALLPASS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callpass-kratos}"
dir="$cache_root/promtool-$PROMETHEUS_VERSION"
bin="$dir/promtool"

usage() {
	echo "usage: $0 path|fetch" >&2
	exit 2
}

fetch() {
	mkdir -p "$dir"
	# One fetcher at a time: a second caller waits, then finds the binary.
	exec 9>"$dir/.lock"
	flock 9
	if [[ "${1:-}" != force && -x "$bin" ]]; then
		return 0
	fi
	# Unpack in a temporary directory; only promtool goes into the cache. As
	# root, apt warns that it downloads "unsandboxed" into a directory its
	# _apt user cannot write: harmless.
	work="$(mktemp -d "${TMPDIR:-/tmp}/promtool-fetch.XXXXXX")"
	trap 'rm -rf "$work"; rm -f "$dir/.promtool.$$"' EXIT
	echo "fetching promtool $PROMETHEUS_VERSION (Debian package prometheus) into $bin" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	# apt-get download needs the package lists; a clean machine (CI) has none
	# until apt-get update, so update once and try again.
	if ! (cd "$work" && apt-get download -qq prometheus) >&2; then
		echo "promtool.sh: apt-get download failed; running apt-get update and trying again" >&2
		$sudo apt-get update -qq >&2
		(cd "$work" && apt-get download -qq prometheus) >&2
	fi
	deb="$(ls "$work"/prometheus_*.deb)"
	dpkg-deb -x "$deb" "$work/root"
	got="$("$work/root/usr/bin/promtool" --version 2>&1 | head -1)"
	case "$got" in
	*"version $PROMETHEUS_VERSION"*) ;;
	*)
		echo "promtool.sh: unexpected promtool version: $got" >&2
		exit 1
		;;
	esac
	# Copy beside the final name and rename: a killed fetch never leaves a
	# half-written binary behind.
	tmp="$dir/.promtool.$$"
	cp "$work/root/usr/bin/promtool" "$tmp"
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	rm -rf "$work"
	trap - EXIT
}

case "${1:-}" in
path)
	[[ -x "$bin" ]] || fetch
	echo "$bin"
	;;
fetch)
	fetch force
	echo "$bin"
	;;
*) usage ;;
esac
