package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/go-redis/v9"
)

// script is a Lua script the store runs by EVALSHA, falling back to EVAL on
// NOSCRIPT (a server that has not seen it yet: first use, SCRIPT FLUSH, a
// replica promoted by a failover, a cluster node that never ran it).
type script struct {
	src, hash string
}

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, hash: hex.EncodeToString(h[:])}
}

// scriptCmd is one run of a script that the client never sends twice by
// itself. The scripts are not idempotent (a verify counts an attempt, a
// take adds a member), and a reply that came late or a connection that
// broke after the write does not say whether the script ran. A standalone
// or Sentinel client with MaxRetries -1 (ClientOptions) does not re-send,
// but a ClusterClient's redirect loop re-sends a command after a read
// timeout or a broken connection whatever MaxRetries is, up to
// MaxRedirects times, and re-sends a whole pipeline with it: NoRetry stops
// both. MOVED and ASK are still followed (the node refused the command, so
// the script did not run).
type scriptCmd struct {
	*redis.Cmd
	sc   *script
	keys []string
	args []any
}

// NoRetry implements redis.Cmder.
func (*scriptCmd) NoRetry() bool { return true }

func (c *scriptCmd) build(ctx context.Context, eval bool) {
	a := make([]any, 0, 3+len(c.keys)+len(c.args))
	if eval {
		a = append(a, "eval", c.sc.src)
	} else {
		a = append(a, "evalsha", c.sc.hash)
	}
	a = append(a, len(c.keys))
	for _, k := range c.keys {
		a = append(a, k)
	}
	c.Cmd = redis.NewCmd(ctx, append(a, c.args...)...)
}

func (sc *script) cmd(ctx context.Context, keys []string, args []any) *scriptCmd {
	c := &scriptCmd{sc: sc, keys: keys, args: args}
	c.build(ctx, false)
	return c
}

// noScript reports a NOSCRIPT answer: the server did not run the script.
func (c *scriptCmd) noScript() bool { return redis.HasErrorPrefix(c.Err(), "NOSCRIPT") }

// run runs sc once (EVALSHA, then EVAL on NOSCRIPT, which also loads it on
// the node that answered).
func (s *Store) run(ctx context.Context, sc *script, keys []string, args ...any) *redis.Cmd {
	c := sc.cmd(ctx, keys, args)
	_ = s.rdb.Process(ctx, c)
	if c.noScript() {
		c.build(ctx, true)
		_ = s.rdb.Process(ctx, c)
	}
	return c.Cmd
}

// evalSha queues one run of sc in p; scriptPipeline re-sends it as EVAL if
// its node answered NOSCRIPT.
func evalSha(ctx context.Context, p redis.Pipeliner, sc *script, keys []string, args ...any) *scriptCmd {
	c := sc.cmd(ctx, keys, args)
	_ = p.Process(ctx, c)
	return c
}

// scriptPipeline runs the pipeline fill fills, whose scripts are queued by
// evalSha. The scripts a server answered NOSCRIPT for did not run: they
// alone are sent again, as EVAL, in a second pipeline. Only they: on a
// cluster each node has its own script cache (a replica promoted by a
// failover starts empty), so in one pipeline some scripts may have run
// while others were refused, and sending the whole pipeline again would run
// those twice (a take counted twice). It returns the first error of the
// commands, as Pipelined does.
func (s *Store) scriptPipeline(ctx context.Context, fill func(redis.Pipeliner)) error {
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { fill(p); return nil })
	if err == nil {
		return nil
	}
	var again []*scriptCmd
	for _, c := range cmds {
		if sc, ok := c.(*scriptCmd); ok && sc.noScript() {
			again = append(again, sc)
		}
	}
	if len(again) == 0 {
		return err
	}
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range again {
			c.build(ctx, true)
			_ = p.Process(ctx, c)
		}
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}
