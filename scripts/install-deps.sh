#!/usr/bin/env bash
# Installs what the tests need on a Debian machine with Go: gcc (cgo),
# Node.js and npm (JWT interop), PyJWT for the system Python (JWT interop),
# redis-server, chromium (browser tests), systemd's tools (the example unit's
# checks) and wrk (load scripts). Idempotent: skips what is already
# installed, so a warm machine pays nothing.
set -euo pipefail

need=()
# gcc: cgo for go test -race and Kratos's SQLite; node/npm: the JWT interop
# test against jose (the Go machine image has them; a bare Debian does not).
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# PyJWT: the JWT interop test runs the README's Python sample with the system
# interpreter, /usr/bin/python3 (a python3 earlier on PATH, e.g. pyenv's, may
# lack it); cryptography is what PyJWT verifies ES256, EdDSA and RS256 with.
/usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1 || need+=(python3-jwt python3-cryptography)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; } || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# systemd-analyze and systemd-sysusers check examples/systemd offline; the
# package's service manager is not started.
{ command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-sysusers >/dev/null 2>&1; } || need+=(systemd)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts redis-server as a service on install; tests start their own
# on free ports, so the system one is left alone.
echo "install-deps: redis-server $(redis-server --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -1), PyJWT $(/usr/bin/python3 -c 'import jwt; print(jwt.__version__)')"
