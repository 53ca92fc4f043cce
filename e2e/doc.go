// Package e2e holds end-to-end tests that run the service against the real
// parts a user has: a real Kratos v1.3.1 (built by scripts/kratos.sh), a real
// redis-server, headless Chromium, and the CallPass simulator over HTTP.
// They run in .ci/run and never skip there: a missing part is a failure.
package e2e
