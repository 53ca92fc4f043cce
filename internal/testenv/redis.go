// Package testenv starts the real services tests talk to. It is used by tests
// only.
package testenv

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is a redis-server started for one test. It listens on 127.0.0.1 only,
// keeps no data on disk and is stopped at test cleanup.
type Redis struct {
	// Addr is "127.0.0.1:<port>".
	Addr string
	Port int
	Dir  string

	tb   testing.TB
	bin  string
	args []string
	// conf is a config file given before the options (a sentinel's, which
	// the sentinel rewrites), "" for none.
	conf string
	// tls is set for a server that listens with TLS only (StartRedisTLS):
	// how a client reaches it, ServerName its certificate's first name.
	tls  *tls.Config
	host string // DialAddr's host, "" for Addr's
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// redisBinary finds redis-server: $REDIS_SERVER, then PATH, then Debian's path.
func redisBinary() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", fmt.Errorf("redis-server not found")
}

// StartRedis starts a redis-server on a free port. It fails the test (never
// skips) when redis-server is missing.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	return StartRedisWith(tb)
}

// StartRedisWith is StartRedis with more redis-server arguments (e.g.
// "--cluster-enabled", "yes").
func StartRedisWith(tb testing.TB, args ...string) *Redis {
	tb.Helper()
	return startRedis(tb, nil, args...)
}

// startRedis is StartRedisWith, with TLS when t is not nil.
func startRedis(tb testing.TB, t *serverTLS, args ...string) *Redis {
	tb.Helper()
	return startRedisEach(tb, t, func() []string { return args })
}

// startRedisEach is startRedis with the arguments asked for again with each
// try (a cluster node's bus port is picked anew with its client port).
func startRedisEach(tb testing.TB, t *serverTLS, args func() []string) *Redis {
	tb.Helper()
	r, err := startTaking(func() *Redis {
		r := newRedis(tb, args()...)
		if t != nil {
			t.apply(r)
		}
		return r
	})
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return r
}

// startTaking starts the server prepare returns, each on a free port, up
// to 3 times while the port was taken (another process bound it first),
// and stops it at the test's end.
func startTaking(prepare func() *Redis) (*Redis, error) {
	var err error
	for range 3 {
		r := prepare()
		if err = r.start(); err == nil {
			r.tb.Cleanup(r.Stop)
			return r, nil
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, err
}

// newRedis prepares a server on a free port, not started yet.
func newRedis(tb testing.TB, args ...string) *Redis {
	tb.Helper()
	bin, err := redisBinary()
	if err != nil {
		tb.Fatalf("testenv: %v: run scripts/install-deps.sh", err)
	}
	port, err := FreePort()
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	r := &Redis{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port: port,
		Dir:  tb.TempDir(),
		tb:   tb,
		bin:  bin,
		args: args,
	}
	return r
}

// Start starts the server again on the same port after Stop (fault tests).
func (r *Redis) Start() {
	r.tb.Helper()
	if err := r.start(); err != nil {
		r.tb.Fatalf("testenv: %v", err)
	}
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	logPath := filepath.Join(r.Dir, "redis.log")
	var pre []string
	if r.conf != "" {
		pre = []string{r.conf, "--sentinel"}
	}
	ports := []string{"--port", strconv.Itoa(r.Port)}
	if r.tls != nil {
		ports = []string{"--port", "0", "--tls-port", strconv.Itoa(r.Port)}
	}
	cmd := exec.Command(r.bin, append(append(pre, ports...),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.Dir,
		"--logfile", logPath,
	)...)
	cmd.Args = append(cmd.Args, r.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w: run scripts/install-deps.sh", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPingTLS(r.Addr, r.tls); err == nil {
			own, err := listensOn(cmd.Process.Pid, r.Port)
			if own {
				break
			}
			// Another process's server answered: ours is about to fail
			// its bind, or has (startRedis then takes another port).
			_ = cmd.Process.Kill()
			<-done
			if err != nil {
				return fmt.Errorf("redis-server on %s: who listens: %w", r.Addr, err)
			}
			return fmt.Errorf("redis-server on %s: another process answers on the port (Address already in use)", r.Addr)
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server exited during start:\n%s", redisTail(string(log), 2000))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on %s did not answer PING within 10s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd, r.done = cmd, done
	return nil
}

// Stop stops the server (it is safe to call twice). Data is lost.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd, r.done = nil, nil
}

// Kill kills the server with SIGKILL, as a crash: no shutdown, no last
// words to clients or to the cluster bus (safe to call twice; Start starts
// it again).
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd, r.done = nil, nil
}

// redisPing sends an inline PING and expects +PONG, without a client library.
func redisPing(addr string) error { return redisPingTLS(addr, nil) }

// redisPingTLS is redisPing over TLS with tc (plain TCP when tc is nil).
func redisPingTLS(addr string, tc *tls.Config) error {
	d := &net.Dialer{Timeout: 500 * time.Millisecond}
	var conn net.Conn
	var err error
	if tc != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with requirepass answers, and refuses: it is up.
	if l := strings.TrimSpace(line); l != "+PONG" && !strings.HasPrefix(l, "-NOAUTH") {
		return fmt.Errorf("unexpected PING answer %q", line)
	}
	return nil
}

// LogTail is the last n bytes of the server's log (for a failure message).
func (r *Redis) LogTail(n int) string {
	log, err := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	return redisTail(string(log), n)
}

func redisTail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
