package redisstore

import (
	"crypto/tls"
	"crypto/x509"
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
// identity, size, modification and change time: a Kubernetes secret volume
// replaces them by a symlink swap (a new inode), a renewal in place changes
// the change time whatever it does to the modification time.
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
	// The change time too: a rewrite in place of the same size whose
	// modification time was set back (touch -r, cp -p, rsync -t --inplace,
	// tar) or fell in the same tick left the other three as they were.
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) &&
		changeTime(a).Equal(changeTime(b))
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

func (c *clientCert) logger() *slog.Logger { return logger(c.log) }

func notAfter(pair *tls.Certificate) time.Time {
	if pair == nil || pair.Leaf == nil {
		return time.Time{}
	}
	return pair.Leaf.NotAfter
}

// rootCAs serves store.redis.tls_ca_file to every new connection, reading
// it again when it changed since the CAs in use were read (compared as
// clientCert compares its files). A private CA is rotated by adding the new
// CA to the bundle, then moving the servers to certificates it issued: with
// the file read once at start, a server's new certificate failed every new
// connection ("certificate signed by unknown authority") until a restart.
//
// A file that does not load (caught half written, removed for a moment)
// leaves the CAs read before in use, with a warning once per change of the
// file: a broken rotation must not stop the store, and an empty pool would
// refuse every server anyway.
type rootCAs struct {
	file string
	log  *slog.Logger

	mu     sync.Mutex
	pool   *x509.CertPool
	info   os.FileInfo // what pool was read from
	warned bool        // the file as warnedInfo says (nil: missing) did not load
	// warnedInfo is not read again until it changes.
	warnedInfo os.FileInfo
}

// newRootCAs reads the file once: one that does not load at start is an
// error of the configuration, as before.
func newRootCAs(file string, log *slog.Logger) (*rootCAs, error) {
	info := stat(file)
	pool, err := LoadCA(file)
	if err != nil {
		return nil, err
	}
	return &rootCAs{file: file, log: log, pool: pool, info: info}, nil
}

// get is the pool a new connection verifies its server with.
func (r *rootCAs) get() *x509.CertPool {
	info := stat(r.file)
	r.mu.Lock()
	defer r.mu.Unlock()
	if sameFile(info, r.info) || r.warned && sameFile(info, r.warnedInfo) {
		return r.pool
	}
	pool, err := LoadCA(r.file)
	if err != nil {
		r.warned, r.warnedInfo = true, info
		logger(r.log).Warn("store.redis.tls_ca_file changed but does not load; the CA certificates read before stay in use until it does",
			slog.String("error", err.Error()))
		return r.pool
	}
	r.pool, r.info = pool, info
	r.warned, r.warnedInfo = false, nil
	logger(r.log).Info("store.redis.tls_ca_file reloaded: new connections to Redis verify servers with its CA certificates")
	return r.pool
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
