package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
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
	n := allocs.Min(50, func() {
		if p, _ := c.get(nil); p != good {
			t.Fatal("pair changed")
		}
	})
	if n > 10 {
		t.Fatalf("%.0f allocations per handshake while the renewal does not load: the files are read again", n)
	}
	copyFile(other.Client.KeyFile, keyFile) // the renewal completes
	if p, _ := c.get(nil); p == good {
		t.Fatal("the completed renewal was not read")
	}
}

// TestFileChangeSeenWhateverItsTimes: a CA file rewritten in place, the same inode and the same size, with its
// modification time set back to what it was (touch -r, cp -p or
// rsync -t --inplace from a source of fixed times, a tar extraction, a
// filesystem with coarse timestamps) is read again by the next connection.
// The file was compared by identity, size and modification time only, which
// such a rewrite leaves as they were: the CAs read before stayed in use
// until a restart. Its change time, which no one sets, tells it. A symlink
// swap as Kubernetes does it (..data) is seen too. (The client certificate's
// files are compared by the same sameFile.)
func TestFileChangeSeenWhateverItsTimes(t *testing.T) {
	oldCA, newCA := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oldPEM, newPEM := read(oldCA.File), read(newCA.File)
	// Text around PEM blocks is ignored: both files are padded to one size.
	size := len(oldPEM) + len(newPEM) + 64
	pad := func(b []byte) []byte {
		b = append(b, "# "...)
		for len(b) < size-1 {
			b = append(b, 'x')
		}
		return append(b, '\n')
	}
	before, after := pad(slices.Clone(oldPEM)), pad(append(append(slices.Clone(oldPEM), '\n'), newPEM...))
	if len(before) != len(after) {
		t.Fatalf("files of %d and %d bytes", len(before), len(after))
	}
	leaf, err := tls.LoadX509KeyPair(newCA.Client.CertFile, newCA.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	verifies := func(pool *x509.CertPool) bool {
		_, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err == nil
	}

	tests := []struct {
		name   string
		layout func(dir string) string // writes before, returns the path the service reads
		rotate func(dir string)        // writes after
	}{
		{"rewritten in place, times set back",
			func(dir string) string {
				p := filepath.Join(dir, "ca.pem")
				if err := os.WriteFile(p, before, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			func(dir string) {
				p := filepath.Join(dir, "ca.pem")
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, after, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			}},
		{"symlink swap (Kubernetes ..data)",
			func(dir string) string {
				if err := os.Mkdir(filepath.Join(dir, "..v1"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "..v1", "ca.pem"), before, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "ca.pem")
				if err := os.Symlink(filepath.Join("..data", "ca.pem"), p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			func(dir string) {
				fi, err := os.Stat(filepath.Join(dir, "ca.pem"))
				if err != nil {
					t.Fatal(err)
				}
				v2 := filepath.Join(dir, "..v2")
				if err := os.Mkdir(v2, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(v2, "ca.pem"), after, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(filepath.Join(v2, "ca.pem"), fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "..v1")); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS != "linux" && strings.Contains(tt.name, "in place") {
				t.Skip("the change time is read on Linux only (filetime_other.go)")
			}
			dir := t.TempDir()
			p := tt.layout(dir)
			r, err := newRootCAs(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if verifies(r.get()) {
				t.Fatal("the old CA alone verifies the new CA's certificate: the test proves nothing")
			}
			tt.rotate(dir)
			if !verifies(r.get()) {
				t.Fatal("the rotated CA file was not read again: the CAs read before are in use")
			}

		})
	}
}
