package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Modes of store.redis.mode: how the URL is read and which client is built.
const (
	ModeStandalone = "standalone" // one server (redis.ParseURL)
	ModeCluster    = "cluster"    // Redis Cluster, the URL lists seed nodes (redis.ParseClusterURL)
	ModeSentinel   = "sentinel"   // a master found through Sentinel, the URL lists the sentinels
)

// Timeouts every client of the store runs with (see ClientOptions).
const (
	dialTimeout  = 2 * time.Second
	readTimeout  = time.Second
	writeTimeout = time.Second
	// dialAttempts is go-redis's DialerRetries, which counts attempts: one.
	// Its default, 5 attempts 100 ms apart, each with its own dial timeout,
	// held a request ~0.5 s on a refused connection (a cluster master down)
	// and up to 10 s on an unanswered one before it failed closed; the
	// next request dials again anyway. After PoolSize failed dials (counted
	// per connection, whatever the attempts; the pipelines' own pool, after
	// its own size, 10) go-redis stops dialing: new connections fail at
	// once until its background probe, one a second, gets through, so the
	// store serves again about a second after Redis is back, in every mode
	// (TestRecoversAfterTheDialBreakerOpens).
	dialAttempts = 1
)

// errRefusedURL never quotes the URL: the parsers' errors may hold it,
// password included (url.Parse does); configuration validation says why.
var errRefusedURL = errors.New("redis store: the URL is refused by the Redis client (`callpass-kratos config validate` says why)")

// ClientOptions returns the go-redis options the store is meant to run with
// for the server at rawURL (redis:// or rediss://, as redis.ParseURL reads
// it): short timeouts, so a stalled Redis fails a request instead of holding
// it, one dial attempt per new connection, and no retries. go-redis
// re-sends a command whose reply did not come in time, and the verify and
// take scripts are not idempotent: a re-sent
// verify would count one wrong code twice (or answer a right one "already
// used"), a re-sent take would count one call twice. With no retries a late
// reply fails the request (closed), and what the script did, it did once.
func ClientOptions(rawURL string) (*redis.Options, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errRefusedURL
	}
	harden(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries, &opts.DialerRetries)
	perHostTLS(opts.TLSConfig, &opts.Dialer)
	return opts, nil
}

// perHostTLS sets *dialer, for a rediss:// URL (cfg not nil), to one that
// checks each server's certificate against the host it dials. go-redis's
// own dialers use cfg.ServerName, the URL's host, for every connection: in
// sentinel mode the master's and every sentinel's certificate were checked
// against the first sentinel's name, in cluster mode every node's against
// the first seed's. cfg is read at each dial, so certificates NewClient
// adds to it afterwards are used; InsecureSkipVerify (the URL's
// skip_verify) is kept, never set.
func perHostTLS(cfg *tls.Config, dialer *dialFunc) { tlsDialer(cfg, dialer, nil) }

type dialFunc = func(context.Context, string, string) (net.Conn, error)

// tlsDialer is perHostTLS whose connections verify servers with the pool
// roots serves, when roots is not nil (store.redis.tls_ca_file, read again
// when it changes).
func tlsDialer(cfg *tls.Config, dialer *dialFunc, roots *rootCAs) {
	if cfg == nil {
		return
	}
	*dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		c.ServerName = host
		if roots != nil {
			c.RootCAs = roots.get()
		}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout, KeepAliveConfig: keepAlive}, Config: c}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return alertConn{conn.(*tls.Conn)}, nil
	}
}

// alertConn is a TLS connection whose failed writes say why the server
// reset it, when the server said so first. In TLS 1.3 the client's
// handshake returns before the server has checked the client certificate;
// a server that refuses it (none, or one of another CA) sends an alert and
// closes. When that reset arrives before the first command is written, the
// write fails with "connection reset by peer" and the alert, the reason
// (`remote error: tls: certificate required`, which readiness answers with
// store.redis.tls_cert_file), waits unread: under load about one refused
// connection in a hundred failed so.
type alertConn struct{ *tls.Conn }

// alertWait bounds the read of an alert after a reset: the connection is
// closed, so the read returns at once, with the alert or without.
const alertWait = 100 * time.Millisecond

func (c alertConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		// The connection is dead either way (go-redis drops it on any
		// network error); a byte of a reply read here is lost with it.
		_ = c.Conn.SetReadDeadline(time.Now().Add(alertWait))
		var one [1]byte
		if _, rerr := c.Conn.Read(one[:]); isRemoteAlert(rerr) {
			return n, fmt.Errorf("%w (%w)", rerr, err)
		}
	}
	return n, err
}

// isRemoteAlert reports an alert the server sent (crypto/tls's "remote
// error: tls: …").
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// keepAlive is go-redis's default dialers' TCP keep-alive, kept when
// perHostTLS replaces them.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// TLS names the files of store.redis.tls_ca_file, tls_cert_file and
// tls_key_file ("" for none), read when NewClient builds a client and again
// by a new connection when they changed.
type TLS struct {
	// CAFile replaces the system's roots: servers' certificates must
	// chain to one of its certificates. It is read again when it changes
	// (see rootCAs).
	CAFile string
	// CertFile and KeyFile are the client certificate Redis asks for
	// (tls-auth-clients), both or neither. They are read again when they
	// change (see clientCert).
	CertFile, KeyFile string
	// Logger hears of a renewed client certificate or CA file, or of one
	// that does not load; nil: not said.
	Logger *slog.Logger
}

// IsZero reports whether no file is named.
func (t TLS) IsZero() bool { return t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" }

// LoadCA reads a PEM file of CA certificates. Its errors name the file,
// never its content.
func LoadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, unreadable(path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// unreadable says a file could not be read, its path named once.
func unreadable(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read %s: %w", path, err)
}

// LoadClientCert reads a certificate and its private key (PEM files). Its
// errors name the files, never the key.
func LoadClientCert(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, unreadable(certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, unreadable(keyFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's texts say which part failed and never quote a key.
		return tls.Certificate{}, fmt.Errorf("%s and %s are no certificate and matching private key (PEM): %w", certFile, keyFile, err)
	}
	return pair, nil
}

// apply adds t's files to cfg, the TLS configuration of a rediss:// URL,
// and to *dialer, the one perHostTLS set.
func (t TLS) apply(cfg *tls.Config, dialer *dialFunc) error {
	if t.IsZero() {
		return nil
	}
	if cfg == nil {
		return errors.New("redis store: TLS files are set, but the URL is not rediss://")
	}
	if t.CAFile != "" {
		roots, err := newRootCAs(t.CAFile, t.Logger)
		if err != nil {
			return fmt.Errorf("redis store: CA file: %w", err)
		}
		cfg.RootCAs = roots.pool
		tlsDialer(cfg, dialer, roots)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("redis store: a client certificate needs both its certificate and its key file")
	}
	if t.CertFile != "" {
		cc, err := newClientCert(t.CertFile, t.KeyFile, t.Logger)
		if err != nil {
			return fmt.Errorf("redis store: client certificate: %w", err)
		}
		cfg.GetClientCertificate = cc.get
	}
	return nil
}

// harden sets the fields ClientOptions describes, which go-redis's three
// option types each have under the same names.
func harden(dial, read, write *time.Duration, retries, dials *int) {
	*dial, *read, *write = dialTimeout, readTimeout, writeTimeout
	*retries = -1 // never re-send: the scripts are not idempotent
	*dials = dialAttempts
}

// ClusterOptions is ClientOptions for a Redis Cluster: rawURL names seed
// nodes as redis.ParseClusterURL reads them
// (redis://[[user]:password@]host:port?addr=host2:port&addr=host3:port).
// Cluster has database 0 only: a path other than /0 is refused (the parser
// would ignore it). Reads from replicas (read_only, route_by_latency,
// route_randomly) are refused: a replica lags, and a lookup there would miss
// a challenge just created. The scripts are never re-sent (scriptCmd); the
// client follows MOVED and ASK redirects. Build the client with
// NewClusterClient (it follows a failover).
func ClusterOptions(rawURL string) (*redis.ClusterOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, errRefusedURL
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, errors.New("redis store: Redis Cluster has database 0 only")
	}
	if o := replicaReadOption(u, "read_only"); o != "" {
		return nil, fmt.Errorf("redis store: the URL option %s reads from replicas", o)
	}
	opts, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, errRefusedURL
	}
	harden(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries, &opts.DialerRetries)
	perHostTLS(opts.TLSConfig, &opts.Dialer)
	return opts, nil
}

// Sentinel is what sentinel mode reads besides the URL: the master's name
// and the sentinels' own credentials ("" for none). Username is an ACL user
// of the sentinels (Redis 6.2+), sent with Password; without it Password is
// their requirepass (the default user's).
type Sentinel struct {
	Master   string
	Username string
	Password string
}

// FailoverOptions is ClientOptions for a master that Sentinel watches:
// rawURL's host and addr= options are the sentinels, its user and password
// the data nodes' (as in standalone mode), its path the database; s names
// the master and carries the sentinels' credentials. The client asks a
// sentinel for the master on each new connection (any of them that answers,
// when the one it used is gone) and drops its connections when Sentinel
// announces a new one. The options username, password and master_name in
// the query are refused (they have their own places), and so are reads from
// replicas.
func FailoverOptions(rawURL string, s Sentinel) (*redis.FailoverOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, errRefusedURL
	}
	if s.Master == "" {
		return nil, errors.New("redis store: Sentinel mode needs the master's name")
	}
	if s.Username != "" && s.Password == "" {
		// go-redis would not authenticate at all: the user would be
		// dropped silently, the sentinels reached as their default user.
		return nil, errors.New("redis store: the sentinels' username needs their password")
	}
	for _, o := range []string{"username", "password", "master_name"} {
		if u.Query().Has(o) {
			return nil, fmt.Errorf("redis store: the URL option %s is not read in Sentinel mode", o)
		}
	}
	if o := replicaReadOption(u, "replica_only"); o != "" {
		return nil, fmt.Errorf("redis store: the URL option %s reads from replicas", o)
	}
	opts, err := redis.ParseFailoverURL(rawURL)
	if err != nil {
		return nil, errRefusedURL
	}
	// ParseFailoverURL reads the user info as the sentinels' credentials.
	opts.Username, opts.Password = opts.SentinelUsername, opts.SentinelPassword
	opts.SentinelUsername, opts.SentinelPassword = s.Username, s.Password
	opts.MasterName = s.Master
	harden(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries, &opts.DialerRetries)
	// The dialer serves the sentinels' connections and the master's alike.
	perHostTLS(opts.TLSConfig, &opts.Dialer)
	return opts, nil
}

// replicaReadOption returns the first query option of u that sends reads to
// replicas ("" for none); own is the mode's own such option. Every value of
// a repeated option is read: go-redis's parsers take the last one, url's Get
// the first (?read_only=false&read_only=true reads from replicas).
func replicaReadOption(u *url.URL, own string) string {
	q := u.Query()
	for _, o := range []string{own, "route_by_latency", "route_randomly"} {
		for _, v := range q[o] {
			if on, err := strconv.ParseBool(v); err == nil && on {
				return o
			}
		}
	}
	return ""
}

// NewClient builds the client of a mode (ModeStandalone when mode is "")
// for rawURL; s is read in ModeSentinel only. t's files serve every
// connection (in sentinel mode the sentinels' too) and need a rediss://
// URL.
func NewClient(mode, rawURL string, s Sentinel, t TLS) (redis.UniversalClient, error) {
	switch mode {
	case "", ModeStandalone:
		opts, err := ClientOptions(rawURL)
		if err != nil {
			return nil, err
		}
		if err := t.apply(opts.TLSConfig, &opts.Dialer); err != nil {
			return nil, err
		}
		return redis.NewClient(opts), nil
	case ModeCluster:
		opts, err := ClusterOptions(rawURL)
		if err != nil {
			return nil, err
		}
		if err := t.apply(opts.TLSConfig, &opts.Dialer); err != nil {
			return nil, err
		}
		return NewClusterClient(opts), nil
	case ModeSentinel:
		opts, err := FailoverOptions(rawURL, s)
		if err != nil {
			return nil, err
		}
		if err := t.apply(opts.TLSConfig, &opts.Dialer); err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(opts), nil
	}
	return nil, fmt.Errorf("redis store: unknown mode %q", mode)
}

// NewClusterClient builds the cluster client of opts (ClusterOptions) that
// reloads its slot map after a command fails without a Redis answer (a
// refused or broken connection, a timeout). go-redis reloads the map on a
// MOVED, and otherwise only every ClusterStateReloadInterval (a minute by
// default): after a failover the client kept sending every command to the
// dead master, failing closed, for up to that minute after the replica was
// promoted (TestServiceOverClusterFailover), unless something else, such as
// a readiness probe's Ping (ForEachMaster), happened to reload it. The
// reload runs in the background, coalesced by go-redis (one CLUSTER SLOTS
// at a time, at most one more 200 ms after it), so a master that is down
// costs no more than that; the failed command is not sent again.
func NewClusterClient(opts *redis.ClusterOptions) *redis.ClusterClient {
	cc := redis.NewClusterClient(opts)
	cc.AddHook(reloadOnFailure{cc})
	return cc
}

// reloadOnFailure is NewClusterClient's hook.
type reloadOnFailure struct{ cc *redis.ClusterClient }

func (reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if unanswered(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			return nil
		}
		for _, c := range cmds {
			if unanswered(c.Err()) {
				h.cc.ReloadState(ctx)
				break
			}
		}
		return err
	}
}

// unanswered reports an error that is no Redis reply (redis.Nil, NOSCRIPT,
// CLUSTERDOWN and the scripts' own errors are replies): the node may be
// gone, and the slot map with it. A caller's cancellation says nothing of
// the node.
func unanswered(err error) bool {
	var reply redis.Error
	return err != nil && !errors.As(err, &reply) && !errors.Is(err, context.Canceled)
}
