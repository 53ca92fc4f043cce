package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TLSCA is a throwaway certificate authority for one test: it issues the
// TLS helpers' server certificates and a client certificate.
type TLSCA struct {
	// File is the CA certificate (PEM), what a client or server trusts.
	File string
	// Client is a client certificate of this CA (tls-auth-clients).
	Client TLSCert

	tb   testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	mu   sync.Mutex
	n    int
}

// TLSCert is a certificate and its private key, as PEM files.
type TLSCert struct{ CertFile, KeyFile string }

// NewTLSCA makes a CA valid for an hour, its files in a temporary directory.
func NewTLSCA(tb testing.TB) *TLSCA {
	tb.Helper()
	ca := &TLSCA{tb: tb, dir: tb.TempDir()}
	ca.key = newKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testenv CA " + strconv.FormatInt(time.Now().UnixNano(), 36)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("testenv: CA certificate: %v", err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		tb.Fatalf("testenv: CA certificate: %v", err)
	}
	ca.File = filepath.Join(ca.dir, "ca.pem")
	writePEM(tb, ca.File, "CERTIFICATE", der)
	ca.Client = ca.Issue("callpass-kratos-client")
	return ca
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: key: %v", err)
	}
	return k
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// Issue makes a certificate of this CA for names (each an IP address or a
// DNS name, the first also the subject's common name), good for servers
// and clients alike: Redis presents its tls-cert-file to the servers it
// connects to (replication, sentinels, the cluster bus).
func (ca *TLSCA) Issue(names ...string) TLSCert {
	ca.tb.Helper()
	return ca.issue(time.Now().Add(-time.Minute), time.Now().Add(time.Hour), names)
}

// IssueExpired is Issue for a certificate that expired a minute ago (a
// renewal the service has not read yet).
func (ca *TLSCA) IssueExpired(names ...string) TLSCert {
	ca.tb.Helper()
	return ca.issue(time.Now().Add(-time.Hour), time.Now().Add(-time.Minute), names)
}

func (ca *TLSCA) issue(notBefore, notAfter time.Time, names []string) TLSCert {
	ca.tb.Helper()
	ca.mu.Lock()
	ca.n++
	n := ca.n
	ca.mu.Unlock()
	key := newKey(ca.tb)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(n + 1)),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	for _, name := range names {
		if ip := net.ParseIP(name); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.tb.Fatalf("testenv: certificate: %v", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.tb.Fatalf("testenv: key: %v", err)
	}
	c := TLSCert{CertFile: filepath.Join(ca.dir, fmt.Sprintf("cert%d.pem", n)), KeyFile: filepath.Join(ca.dir, fmt.Sprintf("key%d.pem", n))}
	writePEM(ca.tb, c.CertFile, "CERTIFICATE", der)
	writePEM(ca.tb, c.KeyFile, "PRIVATE KEY", pk)
	return c
}

// ClientConfig is a client's TLS configuration for a server whose
// certificate names serverName: this CA trusted, Client presented.
func (ca *TLSCA) ClientConfig(serverName string) *tls.Config {
	ca.tb.Helper()
	pair, err := tls.LoadX509KeyPair(ca.Client.CertFile, ca.Client.KeyFile)
	if err != nil {
		ca.tb.Fatalf("testenv: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// serverTLS is how startRedis runs a server with TLS.
type serverTLS struct {
	ca    *TLSCA
	names []string // of its certificate; the first is the host clients dial
	cert  TLSCert
}

func newServerTLS(ca *TLSCA, names []string) *serverTLS {
	ca.tb.Helper()
	if len(names) == 0 {
		names = []string{"127.0.0.1"}
	}
	return &serverTLS{ca: ca, names: names, cert: ca.Issue(names...)}
}

// args are the server's TLS options: its certificate, clients' certificates
// required (Redis's default, said anyway), TLS to the servers it
// replicates from or watches.
func (t *serverTLS) args() []string {
	return []string{"--tls-cert-file", t.cert.CertFile, "--tls-key-file", t.cert.KeyFile,
		"--tls-ca-cert-file", t.ca.File, "--tls-auth-clients", "yes", "--tls-replication", "yes"}
}

// apply makes r, not started yet, a TLS-only server.
func (t *serverTLS) apply(r *Redis) {
	r.tls = t.ca.ClientConfig(t.names[0])
	r.host = t.names[0]
	r.args = append(t.args(), r.args...)
}

// StartRedisTLS starts a redis-server that listens with TLS only (port 0,
// tls-port its Port), its certificate issued by ca for names (127.0.0.1
// when none; the first is the host DialAddr and the helpers' URLs name),
// clients required to present a certificate of ca, and replication over
// TLS. It fails the test (never skips) when redis-server is missing.
func StartRedisTLS(tb testing.TB, ca *TLSCA, names []string, args ...string) *Redis {
	tb.Helper()
	return startRedis(tb, newServerTLS(ca, names), args...)
}

// TLSConfig is a client's TLS configuration for the server (its CA, the
// CA's client certificate, its first name as ServerName), nil for a server
// without TLS.
func (r *Redis) TLSConfig() *tls.Config {
	if r.tls == nil {
		return nil
	}
	return r.tls.Clone()
}

// DialAddr is host:port as a client names the server: Addr, or for a TLS
// server the first name of its certificate with its port.
func (r *Redis) DialAddr() string {
	if r.host == "" {
		return r.Addr
	}
	return net.JoinHostPort(r.host, strconv.Itoa(r.Port))
}

// SentinelTLS is the TLS setup of StartRedisSentinelsTLS: every server's
// certificate is ca's, the sentinels' for SentinelNames, the master's and
// the replica's for DataNames (127.0.0.1 when empty). The sentinels
// announce the master as 127.0.0.1.
type SentinelTLS struct {
	CA                       *TLSCA
	SentinelNames, DataNames []string
}

// StartRedisSentinelsTLS is StartRedisSentinels with every server on TLS
// only (StartRedisTLS): the sentinels reach the data nodes and each other
// over TLS, and URL is a rediss:// URL naming the sentinels by the first of
// SentinelNames.
func StartRedisSentinelsTLS(tb testing.TB, name string, auth SentinelAuth, n, quorum int, t SentinelTLS) *RedisSentinel {
	tb.Helper()
	return startRedisSentinels(tb, name, auth, n, quorum, &t)
}

// StartRedisClusterTLS is StartRedisCluster with every node on TLS only
// (StartRedisTLS; the cluster bus too, tls-cluster), node i's certificate
// for names[i] (127.0.0.1 when missing or empty). The nodes announce
// themselves as 127.0.0.1; URL is a rediss:// URL naming each master by the
// first of its names.
func StartRedisClusterTLS(tb testing.TB, n int, ca *TLSCA, names ...[]string) *RedisCluster {
	tb.Helper()
	return startRedisCluster(tb, n, false, func(i int) *serverTLS {
		var ns []string
		if i < len(names) {
			ns = names[i]
		}
		return newServerTLS(ca, ns)
	})
}
