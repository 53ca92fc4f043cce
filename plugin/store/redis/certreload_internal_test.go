package redisstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestClientCertBrokenRenewalNotReread: while a renewal on disk does not
// load, a new connection's handshake does not read and parse both files
// again (a reconnect storm during a failed renewal did, under the mutex);
// only a change of the files is tried. Counted by allocations: a stat of
// each file allocates a few, a read and parse of the pair dozens.
func TestClientCertBrokenRenewalNotReread(t *testing.T) {
	ca, other := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(ca.Client.CertFile, certFile)
	copyFile(ca.Client.KeyFile, keyFile)
	c, err := newClientCert(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := c.pair
	copyFile(other.Client.CertFile, certFile) // half written: another key's certificate
	if p, _ := c.get(nil); p != good {
		t.Fatal("a renewal that does not load replaced the pair in use")
	}
	allocs := testing.AllocsPerRun(50, func() {
		if p, _ := c.get(nil); p != good {
			t.Fatal("pair changed")
		}
	})
	if allocs > 10 {
		t.Fatalf("%.0f allocations per handshake while the renewal does not load: the files are read again", allocs)
	}
	copyFile(other.Client.KeyFile, keyFile) // the renewal completes
	if p, _ := c.get(nil); p == good {
		t.Fatal("the completed renewal was not read")
	}
}
