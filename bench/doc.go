// Package bench is the load harness behind docs/benchmarks.md. It drives
// HTTP endpoints with vegeta (used as a library, closed loop: a fixed number
// of workers, each sending its next request when the previous answer
// arrived) and reports requests/s and latency percentiles of the answers that
// had the expected status. The scenarios themselves live in
// loadbench_test.go (run with CALLPASS_LOADBENCH=1, see scripts/bench.sh);
// smoke_test.go runs a tiny version in the normal tests so the harness keeps
// compiling and working.
package bench
