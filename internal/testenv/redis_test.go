package testenv

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

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

// pongStranger answers every read on addr with +PONG, as a Redis of
// another test package would answer PING, until the test ends.
func pongStranger(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					_, _ = c.Write([]byte("+PONG\r\n"))
				}
			}()
		}
	}()
}

// TestStartTakesAnotherPort: a data node and a sentinel whose free port
// another process bound first are started on another port (a sentinel
// was tried once: a taken port failed the test).
func TestStartTakesAnotherPort(t *testing.T) {
	conf := "sentinel monitor m 127.0.0.1 1 1\n"
	for _, tt := range []struct {
		name    string
		prepare func() *Redis
	}{
		{"data node", func() *Redis { return newRedis(t) }},
		{"sentinel", sentinelServer(t, conf, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var taken int
			r, err := startTaking(func() *Redis {
				r := tt.prepare()
				if taken == 0 {
					taken = r.Port
					pongStranger(t, r.Addr)
				}
				return r
			})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			if r.Port == taken {
				t.Fatalf("started on the taken port %d", taken)
			}
			if own, err := listensOn(r.cmd.Process.Pid, r.Port); !own {
				t.Fatalf("the server started does not hold port %d: %v", r.Port, err)
			}
		})
	}
}

// TestStartRedisRefusesAStrangersPort: a server that answers PING on the
// port is not taken for the one just started; start fails as a taken port
// does, so startRedis picks another.
func TestStartRedisRefusesAStrangersPort(t *testing.T) {
	r := newRedis(t)
	pongStranger(t, r.Addr)
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("the stranger does not answer: %v", err)
	}
	err := r.start()
	if err == nil {
		r.Stop()
		t.Fatal("start took the stranger's server for its own")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("start error %q does not read as a taken port", err)
	}
}

func TestListensOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// A server that failed its bind has exited, and cmd.Wait reaped it,
	// by the time the stranger's PING answer is checked: no error, or
	// startRedis does not take another port.
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		pid, port int
		want      bool
		errOK     bool // /proc of another user's process may be unreadable
	}{
		{"this process, its port", os.Getpid(), port, true, false},
		{"this process, another port", os.Getpid(), port + 1, false, false},
		{"another process", os.Getppid(), port, false, true},
		{"a process that has exited", exited.Process.Pid, port, false, false},
	} {
		got, err := listensOn(tt.pid, tt.port)
		if err != nil && !tt.errOK {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: listensOn = %v, want %v", tt.name, got, tt.want)
		}
	}
}
