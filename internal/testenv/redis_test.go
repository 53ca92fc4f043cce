package testenv

import "testing"

func TestStartRedisStopStart(t *testing.T) {
	r := StartRedis(t)
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	r.Stop()
	if err := redisPing(r.Addr); err == nil {
		t.Fatal("ping succeeded after Stop")
	}
	r.Start()
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	r.Stop()
	r.Stop() // idempotent
}

func TestStartRedisMissingBinary(t *testing.T) {
	t.Setenv("REDIS_SERVER", "/nonexistent/redis-server")
	ft := &redisFatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		StartRedis(ft)
	}()
	if !ft.failed {
		t.Fatal("StartRedis with a missing binary did not fail the test")
	}
}

// redisFatalRecorder records Fatalf instead of stopping the real test.
type redisFatalRecorder struct {
	testing.TB
	failed bool
}

func (f *redisFatalRecorder) Helper() {}

func (f *redisFatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
