package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePort returns a loopback TCP port nothing listens on (just closed), for
// a process that must be told its port before it starts.
//
// It is picked below the kernel's ephemeral range: a port the kernel hands
// out itself (a listener on port 0, the local end of every outgoing
// connection) may go to another connection in the moment between this
// check and the process binding it, which failed a CI run ("Address already
// in use" on a Redis Cluster bus port). Ports below the range are only ever
// taken by someone binding them by number.
func FreePort() (int, error) {
	lo := ephemeralLow()
	const floor = 15000 // clear of the well-known ports and of common services' defaults
	if lo-floor >= 1000 {
		for range 100 {
			p := floor + rand.IntN(lo-floor)
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
				_ = l.Close()
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// ip_local_port_range; its default elsewhere).
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 0 {
				return lo
			}
		}
	}
	return 32768
}

// FreeAddr is FreePort as "127.0.0.1:port", failing the test on error.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	p, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}
