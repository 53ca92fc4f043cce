package redisstore

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// Scripts of the scriptPipeline tests: each counts its runs in KEYS[1];
// boomScript fails with a Lua error reply after counting.
var (
	countScript = newScript(`return redis.call('INCR', KEYS[1])`)
	otherScript = newScript(`return redis.call('INCR', KEYS[1]) -- another script`)
	boomScript  = newScript(`redis.call('INCR', KEYS[1]) return redis.error_reply('ERR boom')`)
)

func scriptEnv(t *testing.T) (*redis.Client, *Store) {
	t.Helper()
	opts, err := ClientOptions("redis://" + testenv.StartRedis(t).Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, New(rdb, "s:")
}

func runs(t *testing.T, rdb *redis.Client, key string) int64 {
	t.Helper()
	n, err := rdb.Get(context.Background(), key).Int64()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return n
}

// TestScriptPipelineResendsOnlyRefused: in one pipeline a script the server
// knows runs, one it does not (NOSCRIPT) is sent again as EVAL; each runs
// once. Sending the whole pipeline again ran the known one twice.
func TestScriptPipelineResendsOnlyRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, s := scriptEnv(t)
	if err := s.run(ctx, countScript, []string{"k1"}).Err(); err != nil { // loads countScript
		t.Fatal(err)
	}
	var known, refused *scriptCmd
	err := s.scriptPipeline(ctx, func(p redis.Pipeliner) {
		known = evalSha(ctx, p, countScript, []string{"k1"})
		refused = evalSha(ctx, p, otherScript, []string{"k2"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if k1, k2 := runs(t, rdb, "k1"), runs(t, rdb, "k2"); k1 != 2 || k2 != 1 {
		t.Fatalf("k1 ran %d times (want 2: load and pipeline), k2 %d (want 1)", k1, k2)
	}
	if v, err := known.Int64(); err != nil || v != 2 {
		t.Fatalf("known script's reply %v %v", v, err)
	}
	if v, err := refused.Int64(); err != nil || v != 1 {
		t.Fatalf("re-sent script's reply %v %v", v, err)
	}
}

// TestScriptPipelineErrorBesideNoScript: a Lua error in one script and a
// NOSCRIPT in another: the refused script is sent again and runs once, the
// failed one is not sent again, and the error returned is the Lua error
// (the first command's error after the re-send), in either order, never
// the NOSCRIPT the re-send cured.
func TestScriptPipelineErrorBesideNoScript(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, s := scriptEnv(t)
	if err := s.run(ctx, boomScript, []string{"warm"}).Err(); err == nil { // loads boomScript
		t.Fatal("boomScript did not fail")
	}
	for _, boomFirst := range []bool{true, false} {
		if err := rdb.Del(ctx, "b", "c").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.run(ctx, boomScript, []string{"warm"}).Err(); err == nil { // loads it again
			t.Fatal("boomScript did not fail")
		}
		var cnt *scriptCmd
		err := s.scriptPipeline(ctx, func(p redis.Pipeliner) {
			if boomFirst {
				evalSha(ctx, p, boomScript, []string{"b"})
			}
			cnt = evalSha(ctx, p, countScript, []string{"c"})
			if !boomFirst {
				evalSha(ctx, p, boomScript, []string{"b"})
			}
		})
		if err == nil || err.Error() != "ERR boom" {
			t.Fatalf("boom first %v: error %v, want the Lua error", boomFirst, err)
		}
		if b, c := runs(t, rdb, "b"), runs(t, rdb, "c"); b != 1 || c != 1 {
			t.Fatalf("boom first %v: the failing script ran %d times, the refused one %d, want 1 and 1", boomFirst, b, c)
		}
		if v, err := cnt.Int64(); err != nil || v != 1 {
			t.Fatalf("boom first %v: re-sent script's reply %v %v", boomFirst, v, err)
		}
	}
}

// TestScriptPipelineResendFails: when the EVAL re-send itself fails (the
// server is gone), the caller is told, and the script is not sent again.
func TestScriptPipelineResendFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	opts, err := ClientOptions("redis://" + srv.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	evals := 0
	rdb.AddHook(pipelineHook(func(cmds []redis.Cmder) {
		if cmds[0].Name() == "eval" {
			evals++
			srv.Stop() // the connection breaks under the re-send
		}
	}))
	s := New(rdb, "s:")
	var cmd *scriptCmd
	err = s.scriptPipeline(ctx, func(p redis.Pipeliner) {
		cmd = evalSha(ctx, p, otherScript, []string{"k"})
	})
	if err == nil || cmd.Err() == nil || redis.HasErrorPrefix(err, "NOSCRIPT") {
		t.Fatalf("re-send on a dead server: error %v (command %v), want the connection's", err, cmd.Err())
	}
	if evals != 1 {
		t.Fatalf("the EVAL went out %d times, want 1", evals)
	}
}

// pipelineHook calls f with each pipeline's commands before it is sent.
type pipelineHook func([]redis.Cmder)

func (pipelineHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (pipelineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h pipelineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h(cmds)
		return next(ctx, cmds)
	}
}
