package redisstore

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"
)

// clientCert serves store.redis.tls_cert_file and tls_key_file to every TLS
// handshake, reading them again when either file changed since the pair in
// use was read. Client certificates are short-lived where they are used
// (cert-manager, an internal ACME CA: days or weeks), and go-redis dials
// new connections for as long as the service runs: with the pair read once
// at start, a renewal on disk went unseen until a restart, and every new
// connection was refused once the old certificate expired.
//
// A pair that does not load (a renewal written file by file, caught between
// the two) leaves the last good pair in use, with a warning once per change
// of the files; the next handshake tries again. Files are compared by
// identity, size and modification time: a Kubernetes secret volume replaces
// them by a symlink swap (a new inode), a renewal in place changes the time.
type clientCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu         sync.Mutex
	pair       *tls.Certificate
	cert, key  os.FileInfo // what pair was read from
	warned     bool        // the files as warnedCert and warnedKey say did not load
	warnedCert os.FileInfo // (nil: missing), and are not read again until they change
	warnedKey  os.FileInfo
}

// newClientCert reads the pair once: a pair that does not load at start is
// an error of the configuration, as before.
func newClientCert(certFile, keyFile string, log *slog.Logger) (*clientCert, error) {
	c := &clientCert{certFile: certFile, keyFile: keyFile, log: log}
	certInfo, keyInfo := stat(certFile), stat(keyFile)
	pair, err := LoadClientCert(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.pair, c.cert, c.key = &pair, certInfo, keyInfo
	return c, nil
}

// stat is the file's information, nil when it cannot be read (a renewal
// that removed it for a moment): nil never equals a file that can.
func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// get is tls.Config.GetClientCertificate.
func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	certInfo, keyInfo := stat(c.certFile), stat(c.keyFile)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sameFile(certInfo, c.cert) && sameFile(keyInfo, c.key) {
		return c.pair, nil
	}
	if c.warned && sameFile(certInfo, c.warnedCert) && sameFile(keyInfo, c.warnedKey) {
		// The files that did not load, unchanged since: not read and
		// parsed again on every new connection.
		return c.pair, nil
	}
	pair, err := LoadClientCert(c.certFile, c.keyFile)
	if err != nil {
		c.warned, c.warnedCert, c.warnedKey = true, certInfo, keyInfo
		c.logger().Warn("store.redis.tls_cert_file or tls_key_file changed but does not load; "+
			"the certificate read before stays in use until they do",
			slog.String("error", err.Error()), slog.Time("in_use_not_after", notAfter(c.pair)))
		return c.pair, nil
	}
	c.pair, c.cert, c.key = &pair, certInfo, keyInfo
	c.warned, c.warnedCert, c.warnedKey = false, nil, nil
	c.logger().Info("store.redis.tls_cert_file reloaded: new connections to Redis present the renewed certificate",
		slog.Time("not_after", notAfter(c.pair)))
	return c.pair, nil
}

func (c *clientCert) logger() *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log
}

func notAfter(pair *tls.Certificate) time.Time {
	if pair == nil || pair.Leaf == nil {
		return time.Time{}
	}
	return pair.Leaf.NotAfter
}
