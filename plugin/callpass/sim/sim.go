package sim

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// CallRecord is one call the simulated provider placed, as the control API
// and the phone page show it.
type CallRecord struct {
	CallID string `json:"call_id"`
	// DN is the destination number ("79001234567").
	DN string `json:"dn"`
	// Caller is the full 11-digit calling number; its tail is the code.
	Caller string `json:"caller"`
	// Code4 is the last 4 digits of Caller.
	Code4 string `json:"code4"`
	// Pin is the last PinLength digits of Caller: what v1 (pin) and v2
	// (phone) returned. v3 returned the last 7 digits.
	Pin        string  `json:"pin"`
	APIVersion int     `json:"api_version"`
	Async      bool    `json:"async"`
	Timeout    int     `json:"timeout"`
	Outcome    Outcome `json:"outcome"`
	// Status is the current raw provider status: "null" until the call
	// settles, then the final cause (NO_ANSWER, ...).
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// SettledAt is zero (omitted in JSON) while Status is "null".
	SettledAt time.Time `json:"settled_at,omitzero"`
}

// call is the mutable state behind a CallRecord.
type call struct {
	rec       CallRecord // Status and SettledAt are filled by snapshot
	final     string
	settleAt  time.Time
	settled   bool // settled explicitly (a synchronous answer was sent)
	settledAt time.Time
}

func (c *call) snapshot(now time.Time) CallRecord {
	r := c.rec
	switch {
	case c.settled:
		r.Status, r.SettledAt = c.final, c.settledAt
	case !now.Before(c.settleAt):
		r.Status, r.SettledAt = c.final, c.settleAt
	default:
		r.Status = statusPending
	}
	return r
}

// statusPending is the provider's "status not known yet": the string
// "null", not JSON null.
const statusPending = "null"

// maxRequestKeys bounds the per-number request counters; beyond it new
// numbers only count towards the total.
const maxRequestKeys = 100000

// Simulator is a CallPass provider in memory. Its methods are safe for
// concurrent use.
type Simulator struct {
	cfg    Config
	allow  []netip.Prefix
	log    *slog.Logger
	mux    *http.ServeMux
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	ring     []*call // at most cfg.MaxCalls; oldest at index next once full
	next     int
	byID     map[string]*call
	requests map[string]int
	total    int
	scripts  map[string]Outcome
	def      Outcome
	lastPin  map[string]string
}

// New validates cfg, applies defaults and returns a Simulator.
func New(cfg Config) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	allow, _ := parseAllowList(cfg.AllowedIPs) // validated above
	s := &Simulator{
		cfg:    cfg,
		allow:  allow,
		log:    cfg.Logger,
		closed: make(chan struct{}),
	}
	s.resetLocked()
	s.mux = s.routes()
	return s, nil
}

// Handler serves the provider API (/api/...) and the control API and phone
// page (/sim/...). Mount it at the root of a mux so the paths stay intact.
func (s *Simulator) Handler() http.Handler { return s.mux }

// Close makes held-back answers finish now: synchronous waits answer at once
// and "slow" requests are aborted, so a server shutdown is not held up.
// The handler keeps serving after Close.
func (s *Simulator) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// Calls returns the remembered calls to dn (any spelling: +7..., 8...),
// newest first; dn "" returns all calls.
func (s *Simulator) Calls(dn string) []CallRecord {
	key := ""
	if dn != "" {
		key, _ = normalizeDN(dn)
	}
	now := s.cfg.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []CallRecord{}
	n := len(s.ring)
	for i := range n {
		// Newest first: the slot before next (when not full, next is 0 and
		// the newest is the last element).
		c := s.ring[(s.next-1-i+2*n)%n]
		if key == "" || c.rec.DN == key {
			out = append(out, c.snapshot(now))
		}
	}
	return out
}

// Call returns the call with the given id.
func (s *Simulator) Call(callID string) (CallRecord, bool) {
	now := s.cfg.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[callID]
	if !ok {
		return CallRecord{}, false
	}
	return c.snapshot(now), true
}

// Script sets the outcome for start requests to dn; an empty outcome removes
// the script. It panics on an unknown outcome, a number that is not 11..15
// digits starting with 7 (after normalisation) or a script beyond
// MaxScripts: a programming error in the caller. Use the control API or
// ParseOutcome for untrusted input.
func (s *Simulator) Script(dn string, o Outcome) {
	key, ok := normalizeDN(dn)
	if !ok {
		panic(fmt.Sprintf("sim: Script: invalid number %q", dn))
	}
	if o != "" && !o.Valid() {
		panic(fmt.Sprintf("sim: Script: unknown outcome %q", o))
	}
	if err := s.setScript(key, o); err != nil {
		panic("sim: Script: " + err.Error())
	}
}

// MaxScripts bounds the scripted numbers: the control API is open in dev
// mode, and each script is kept until it is removed or the simulator reset.
const MaxScripts = 10000

// ErrTooManyScripts refuses a script for a new number beyond MaxScripts.
var ErrTooManyScripts = fmt.Errorf("too many scripted numbers (at most %d): remove some or reset the simulator", MaxScripts)

// setScript sets (o != "") or removes the script of a normalised number.
func (s *Simulator) setScript(key string, o Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o == "" {
		delete(s.scripts, key)
		return nil
	}
	if _, ok := s.scripts[key]; !ok && len(s.scripts) >= MaxScripts {
		return ErrTooManyScripts
	}
	s.scripts[key] = o
	return nil
}

// defaultOutcome is the outcome of numbers without a script (read without
// copying the scripts, as Scripts would).
func (s *Simulator) defaultOutcome() Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.def
}

// scriptOf returns the outcome for a normalised number and whether a script
// (rather than the default) gives it.
func (s *Simulator) scriptOf(key string) (Outcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.scripts[key]; ok {
		return o, true
	}
	return s.def, false
}

// SetDefault sets the outcome for numbers without a script.
func (s *Simulator) SetDefault(o Outcome) error {
	if !o.Valid() {
		return fmt.Errorf("%w %q (known: %s)", ErrUnknownOutcome, o, outcomeNames())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = o
	return nil
}

// Outcome returns the outcome a start request to dn would get now.
func (s *Simulator) Outcome(dn string) Outcome {
	key, _ := normalizeDN(dn)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcomeLocked(key)
}

func (s *Simulator) outcomeLocked(key string) Outcome {
	if o, ok := s.scripts[key]; ok {
		return o
	}
	return s.def
}

// Scripts returns a copy of the current scripts and the default outcome.
func (s *Simulator) Scripts() (map[string]Outcome, Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Outcome, len(s.scripts))
	for k, v := range s.scripts {
		out[k] = v
	}
	return out, s.def
}

// Requests returns how many start-call requests for dn reached the
// simulator, refused ones included (bad token, bad parameters, scripted
// failures). dn "" returns the total over all numbers; a request whose dn
// was not a valid number counts in the total only.
func (s *Simulator) Requests(dn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dn == "" {
		return s.total
	}
	key, _ := normalizeDN(dn)
	return s.requests[key]
}

// RequestCounts returns the per-number start request counters and the total.
func (s *Simulator) RequestCounts() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out, s.total
}

// Reset forgets every call and request counter and restores the scripts
// and the default outcome from the Config.
func (s *Simulator) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Simulator) resetLocked() {
	s.ring = make([]*call, 0, min(s.cfg.MaxCalls, 1024))
	s.next = 0
	s.byID = map[string]*call{}
	s.requests = map[string]int{}
	s.total = 0
	s.lastPin = map[string]string{}
	s.scripts = map[string]Outcome{}
	for dn, o := range s.cfg.Scripts {
		key, _ := normalizeDN(dn)
		s.scripts[key] = o
	}
	s.def = s.cfg.DefaultOutcome
}

// countRequest counts a start request; key is the normalised number as far
// as it could be read ("" when the body had none).
func (s *Simulator) countRequest(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	if _, ok := s.requests[key]; ok || len(s.requests) < maxRequestKeys {
		s.requests[key]++
	}
}

// place records a new call to dn and returns it (a copy of the fresh state).
func (s *Simulator) place(dn string, version, timeout int, async bool, o Outcome) (*call, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("sim: call id: %w", err)
	}
	now := s.cfg.Clock()
	settle := s.cfg.SettleDelay
	if !async {
		// A synchronous start answers within timeout, so the call ends by then.
		settle = min(settle, time.Duration(timeout)*time.Second)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var caller, pin string
	// A new code must differ from the previous one to the same number, so a
	// resend never shows the user the same digits (a real pool might repeat;
	// tests should not depend on luck).
	for range 20 {
		caller, err = s.newCaller()
		if err != nil {
			return nil, err
		}
		pin = caller[len(caller)-s.cfg.PinLength:]
		if pin != s.lastPin[dn] {
			break
		}
	}
	if len(s.lastPin) >= maxRequestKeys {
		s.lastPin = map[string]string{}
	}
	s.lastPin[dn] = pin
	c := &call{
		rec: CallRecord{
			CallID:     id.String(),
			DN:         dn,
			Caller:     caller,
			Code4:      caller[len(caller)-4:],
			Pin:        pin,
			APIVersion: version,
			Async:      async,
			Timeout:    timeout,
			Outcome:    o,
			CreatedAt:  now,
		},
		final:    o.Cause(),
		settleAt: now.Add(settle),
	}
	if len(s.ring) < s.cfg.MaxCalls {
		s.ring = append(s.ring, c)
	} else {
		delete(s.byID, s.ring[s.next].rec.CallID)
		s.ring[s.next] = c
		s.next = (s.next + 1) % len(s.ring)
	}
	s.byID[c.rec.CallID] = c
	return c, nil
}

// settleNow marks a call settled at the moment its synchronous answer is sent.
func (s *Simulator) settleNow(c *call) {
	now := s.cfg.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.settled {
		c.settled = true
		c.settledAt = now
		if c.settleAt.Before(now) {
			c.settledAt = c.settleAt
		}
	}
}

// newCaller returns CallerPrefix followed by random digits, 11 digits in all.
func (s *Simulator) newCaller() (string, error) {
	b := []byte(s.cfg.CallerPrefix)
	var buf [1]byte
	for len(b) < callerDigits {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("sim: random caller: %w", err)
		}
		if buf[0] >= 250 { // reject to keep the digits uniform
			continue
		}
		b = append(b, '0'+buf[0]%10)
	}
	return string(b), nil
}

// sortedKeys is used for stable JSON/HTML output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
