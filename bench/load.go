package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Scenario is one closed-loop load run against one endpoint.
type Scenario struct {
	Name string
	// Targeter returns the next request; it is called concurrently and ends
	// the run early by returning vegeta.ErrNoTargets (a pool of one-shot
	// requests is used up).
	Targeter vegeta.Targeter
	// Expect is the status of a correct answer; anything else is counted as
	// unexpected and left out of the rate and the percentiles.
	Expect int
	// Check, when set, also has to accept the body of an expected answer.
	Check    func(body []byte) bool
	Workers  int
	Duration time.Duration
	// Before, when set, runs before every slice of the scenario, outside
	// the measurement (e.g. to refill a pool of one-shot requests).
	Before func()
}

// Result is what one Scenario run measured.
type Result struct {
	Name       string         `json:"name"`
	Requests   int            `json:"requests"`
	OK         int            `json:"ok"`
	Unexpected int            `json:"unexpected"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
	RPS        float64        `json:"rps"`
	P50        time.Duration  `json:"p50_ns"`
	P90        time.Duration  `json:"p90_ns"`
	P99        time.Duration  `json:"p99_ns"`
	Codes      map[string]int `json:"codes"`
	// CPUPerRequest is this process's CPU time (user + system: load
	// generator, service and built-in simulator; not Kratos or redis-server)
	// over the run, per request. Unlike req/s it does not depend on whether
	// the run saturated the cores.
	CPUPerRequest time.Duration `json:"cpu_per_request_ns"`
	// Sample is one unexpected answer (status and body or error), to debug a run.
	Sample string `json:"sample,omitempty"`
}

func (r Result) String() string {
	return fmt.Sprintf("%-28s %8.0f req/s  p50 %7s  p90 %7s  p99 %7s  cpu/req %6s  ok %d/%d  %v",
		r.Name, r.RPS, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond),
		r.P99.Round(time.Microsecond), r.CPUPerRequest.Round(time.Microsecond), r.OK, r.Requests, r.Codes)
}

// Run drives sc and measures it. Requests go over keep-alive connections, at
// most sc.Workers in flight.
func Run(ctx context.Context, sc Scenario) (Result, error) {
	res, err := RunInterleaved(ctx, 1, nil, sc)
	if len(res) == 0 {
		return Result{}, err
	}
	return res[0], err
}

// RunInterleaved measures several scenarios in alternating slices (a, b, c,
// a, b, c, …; each gets its own Duration in total, split into slices), so a
// noisy neighbour or a drifting machine slows them alike and their ratios
// reflect the code, not the moment each ran. between runs before every
// slice, after the scenario's Before (e.g. to wait for background work, so
// it is not billed to the next slice). Results are in the order of scs.
func RunInterleaved(ctx context.Context, slices int, between func(), scs ...Scenario) ([]Result, error) {
	for _, sc := range scs {
		if err := sc.valid(); err != nil {
			return nil, err
		}
	}
	slices = max(slices, 1)
	accs := make([]accum, len(scs))
	results := func() []Result {
		out := make([]Result, len(scs))
		for i, sc := range scs {
			out[i] = accs[i].result(sc.Name)
		}
		return out
	}
	for range slices {
		for i, sc := range scs {
			// Before first: what it sets up may leave background work
			// (status polls) for between to wait out.
			if sc.Before != nil {
				sc.Before()
			}
			if between != nil {
				between()
			}
			if err := accs[i].attack(ctx, sc, sc.Duration/time.Duration(slices)); err != nil {
				return results(), err
			}
		}
	}
	return results(), nil
}

func (sc Scenario) valid() error {
	if sc.Workers <= 0 || sc.Duration <= 0 || sc.Targeter == nil {
		return errors.New("bench: scenario needs workers, a duration and a targeter")
	}
	return nil
}

// accum adds up one or more attacks of the same scenario.
type accum struct {
	requests, ok, unexpected int
	elapsed, cpu             time.Duration
	lat                      []time.Duration
	codes                    map[string]int
	sample                   string
}

// attack runs sc for d and adds what it measured to acc.
func (acc *accum) attack(ctx context.Context, sc Scenario, d time.Duration) error {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(sc.Workers)), vegeta.MaxWorkers(uint64(sc.Workers)),
		vegeta.KeepAlive(true), vegeta.Connections(sc.Workers), vegeta.MaxConnections(sc.Workers),
		vegeta.Timeout(10*time.Second), vegeta.Redirects(vegeta.NoFollow), vegeta.MaxBody(64<<10),
	)
	if acc.codes == nil {
		acc.codes = map[string]int{}
		acc.lat = make([]time.Duration, 0, 1<<16)
	}
	requests0 := acc.requests
	cpu0 := processCPU()
	start := time.Now()
	var last time.Time
	results := atk.Attack(sc.Targeter, vegeta.Rate{Freq: 0}, d, sc.Name)
	for r := range results {
		if ctx.Err() != nil {
			atk.Stop()
		}
		if r.Method == "" { // the targeter ran dry: not a request
			continue
		}
		acc.requests++
		if end := r.Timestamp.Add(r.Latency); end.After(last) {
			last = end
		}
		code := strconv.Itoa(int(r.Code))
		if r.Code == 0 {
			code = "error"
		}
		acc.codes[code]++
		if int(r.Code) == sc.Expect && (sc.Check == nil || sc.Check(r.Body)) {
			acc.ok++
			acc.lat = append(acc.lat, r.Latency)
			continue
		}
		acc.unexpected++
		if acc.sample == "" {
			acc.sample = fmt.Sprintf("%d %s %.300s", r.Code, r.Error, r.Body)
		}
	}
	if last.IsZero() {
		last = time.Now()
	}
	if acc.requests > requests0 {
		acc.elapsed += last.Sub(start)
		acc.cpu += processCPU() - cpu0
	}
	return ctx.Err()
}

func (acc *accum) result(name string) Result {
	res := Result{Name: name, Requests: acc.requests, OK: acc.ok, Unexpected: acc.unexpected,
		Elapsed: acc.elapsed, Codes: acc.codes, Sample: acc.sample}
	if res.Codes == nil {
		res.Codes = map[string]int{}
	}
	if res.Elapsed > 0 {
		res.RPS = float64(res.OK) / res.Elapsed.Seconds()
	}
	res.P50, res.P90, res.P99 = Percentile(acc.lat, 50), Percentile(acc.lat, 90), Percentile(acc.lat, 99)
	if res.Requests > 0 {
		res.CPUPerRequest = acc.cpu / time.Duration(res.Requests)
	}
	return res
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Percentile returns the p-th percentile (nearest rank) of d; d is sorted in place.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if !slices.IsSorted(d) {
		slices.Sort(d)
	}
	i := int(float64(len(d))*p/100+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// Pool hands out prepared one-shot targets, each once; when it is empty the
// targeter answers vegeta.ErrNoTargets and the run ends.
type Pool struct {
	mu   sync.Mutex
	tgts []vegeta.Target
	next int
}

// NewPool returns a pool over tgts.
func NewPool(tgts []vegeta.Target) *Pool { return &Pool{tgts: tgts} }

// Targeter returns the pool's targeter.
func (p *Pool) Targeter() vegeta.Targeter { return p.Next }

// Next hands out the next target, or vegeta.ErrNoTargets.
func (p *Pool) Next(t *vegeta.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= len(p.tgts) {
		return vegeta.ErrNoTargets
	}
	*t = p.tgts[p.next]
	p.next++
	return nil
}

// Used reports how many targets were handed out.
func (p *Pool) Used() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// Rest returns the targets not handed out (a run that ended by its
// duration leaves one-shot challenges pending; see drain in the harness).
func (p *Pool) Rest() []vegeta.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tgts[p.next:]
}

// RoundRobin cycles through tgts forever (requests that may repeat).
func RoundRobin(tgts []vegeta.Target) vegeta.Targeter {
	var mu sync.Mutex
	i := 0
	return func(t *vegeta.Target) error {
		mu.Lock()
		defer mu.Unlock()
		*t = tgts[i%len(tgts)]
		i++
		return nil
	}
}

// Step is the latency of one named step of a multi-request iteration.
type Step struct {
	Name    string
	Latency time.Duration
}

// LoopResult is what RunLoop measured: iterations per second and the latency
// percentiles of every step (and of the whole iteration, step "total").
type LoopResult struct {
	Name       string                              `json:"name"`
	Iterations int                                 `json:"iterations"`
	Failures   int                                 `json:"failures"`
	Elapsed    time.Duration                       `json:"elapsed_ns"`
	PerSecond  float64                             `json:"per_second"`
	Steps      map[string]map[string]time.Duration `json:"steps"` // step -> p50/p90/p99
	FirstError string                              `json:"first_error,omitempty"`
}

// RunLoop runs iter in a closed loop on workers goroutines for d; iter gets
// its worker number and returns the timed steps of one iteration. Failed
// iterations are counted and left out of the latencies.
func RunLoop(ctx context.Context, name string, workers int, d time.Duration, iter func(ctx context.Context, worker int) ([]Step, error)) LoopResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	res := LoopResult{Name: name}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				steps, err := iter(context.WithoutCancel(ctx), w)
				mu.Lock()
				if err != nil {
					res.Failures++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Iterations++
					var total time.Duration
					for _, s := range steps {
						lat[s.Name] = append(lat[s.Name], s.Latency)
						total += s.Latency
					}
					lat["total"] = append(lat["total"], total)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.PerSecond = float64(res.Iterations) / res.Elapsed.Seconds()
	res.Steps = map[string]map[string]time.Duration{}
	for k, v := range lat {
		res.Steps[k] = map[string]time.Duration{"p50": Percentile(v, 50), "p90": Percentile(v, 90), "p99": Percentile(v, 99)}
	}
	return res
}

// BareBody is what the baseline handler answers.
var BareBody = []byte(`{"status":"ok","service":"bench"}`)

// BareHandler is the baseline: an Echo router with one route answering a
// fixed JSON body, no middleware.
func BareHandler() http.Handler { return bareRouter(nil) }

// bareRouter is an Echo router answering BareBody on GET and POST /bare,
// after before (when set) has run without error.
func bareRouter(before func(c echo.Context) error) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h := func(c echo.Context) error {
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
		return c.JSONBlob(http.StatusOK, BareBody)
	}
	e.GET("/bare", h)
	e.POST("/bare", h)
	return e
}

// NewHTTPServer returns an http.Server with the settings webhook.Server.Serve
// uses (webhook/server.go), so the baseline is served the same way as the
// service. Keep the two in step.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      130 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// ProxyBody is what the provider-call ceiling sends upstream: a form the
// size of a CallPass start request.
var ProxyBody = "dn=79001234567&timeout=30&code_length=4&async=1"

// BareProxyHandler is the ceiling of any hook that places a call over
// loopback HTTP: an Echo route that makes one keep-alive POST to upstream
// (a bare handler on the same machine, answering at once), reads the
// answer, and returns a fixed JSON body. It does no work of its own, so a
// scenario's req/s over it says how much of what the machine allows with a
// provider exchange on the same cores the scenario reaches. client should
// be configured like the provider client (keep-alive pool).
func BareProxyHandler(upstream string, client *http.Client) http.Handler {
	return bareRouter(func(c echo.Context) error {
		req, err := http.NewRequestWithContext(c.Request().Context(), http.MethodPost, upstream, strings.NewReader(ProxyBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	})
}

// ServeBareProxy serves BareProxyHandler in front of upstream (a bare
// server's /bare) on a free loopback port until ctx ends.
func ServeBareProxy(ctx context.Context, upstream string, client *http.Client) (string, error) {
	return serve(ctx, BareProxyHandler(upstream, client))
}

// BareRedisHandler is the ceiling of any handler that makes one Redis
// round trip: a GET of one absent key through rdb, then the fixed JSON body.
func BareRedisHandler(rdb *redis.Client) http.Handler {
	return bareRouter(func(c echo.Context) error {
		if err := rdb.Get(c.Request().Context(), "callpass-bench:bare").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	})
}

// ServeBareRedis serves BareRedisHandler on a free loopback port until ctx ends.
func ServeBareRedis(ctx context.Context, rdb *redis.Client) (string, error) {
	return serve(ctx, BareRedisHandler(rdb))
}

// ServeBare serves BareHandler on a free loopback port until ctx ends and
// returns its base URL.
func ServeBare(ctx context.Context) (string, error) { return serve(ctx, BareHandler()) }

func serve(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := NewHTTPServer(h)
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return "http://" + ln.Addr().String(), nil
}
