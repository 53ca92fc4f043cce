// Package sim is a local CallPass simulator: a real HTTP server that speaks
// the provider's API v1, v2 and v3 as /work/shared/callpass-api.md describes,
// with per-number scripted outcomes, a JSON control API under /sim/ and a
// "virtual phone" page that shows the calls a phone would have received.
//
// It exists for dev mode, the standalone `callpass-kratos sim` command and
// integration tests. The control API and the phone page need no token and
// show full numbers and codes: never expose the simulator publicly.
package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Outcome is what the simulated provider does with a start-call request.
type Outcome string

// Outcomes. The first five place a call that ends with the named telephony
// cause, and OutcomeSlow and OutcomeResultSuccess place one too; the others
// are failures of the request itself and place no call.
const (
	// OutcomeAnswered: the user picked up (NORMAL_CLEARING).
	OutcomeAnswered Outcome = "answered"
	// OutcomeBusy: the line was busy; the phone still showed the call (USER_BUSY).
	OutcomeBusy Outcome = "busy"
	// OutcomeNoAnswer: the phone rang and the call was missed (NO_ANSWER).
	// The default: it is what a flash call normally looks like.
	OutcomeNoAnswer Outcome = "no_answer"
	// OutcomeUnreachable: the phone is off or out of coverage and did not
	// ring (SUBSCRIBER_ABSENT).
	OutcomeUnreachable Outcome = "unreachable"
	// OutcomeRejected: the user declined the call (CALL_REJECTED, Q.850
	// cause 21); the phone rang and showed the number.
	OutcomeRejected Outcome = "rejected"
	// OutcomeDestinationNotAllowed: level-2 error "destination not allowed".
	OutcomeDestinationNotAllowed Outcome = "destination_not_allowed"
	// OutcomeLowBalance: the provider's level-1 sample
	// {"status":"success","message":"balance is lower than limit for that call"}.
	OutcomeLowBalance Outcome = "low_balance"
	// OutcomeServerError: HTTP 500 {"status":"error","message":"internal server error"}.
	OutcomeServerError Outcome = "server_error"
	// OutcomeHTMLError: HTTP 502 with an nginx HTML page (text/html).
	OutcomeHTMLError Outcome = "html_error"
	// OutcomeSlow: the call is placed (the phone rings, NO_ANSWER) but the
	// HTTP answer is held back far beyond the request's timeout, so a client
	// sees a timeout after its request was sent and must not retry.
	OutcomeSlow Outcome = "slow"
	// OutcomeResultSuccess: the call is placed and ends with data.result
	// "success" instead of a telephony cause, as the document's generic
	// sample {"status":"success","data":{"result":"success",...}} answers.
	OutcomeResultSuccess Outcome = "result_success"
)

// Outcomes lists every outcome in documentation order.
var allOutcomes = []Outcome{
	OutcomeAnswered, OutcomeBusy, OutcomeNoAnswer, OutcomeUnreachable, OutcomeRejected,
	OutcomeDestinationNotAllowed, OutcomeLowBalance, OutcomeServerError, OutcomeHTMLError, OutcomeSlow,
	OutcomeResultSuccess,
}

// Outcomes returns every known outcome.
func Outcomes() []Outcome { return append([]Outcome(nil), allOutcomes...) }

// ErrUnknownOutcome is returned by ParseOutcome for a name it does not know.
var ErrUnknownOutcome = errors.New("unknown simulator outcome")

// ParseOutcome parses an outcome name (case-insensitive, '-' or '_').
func ParseOutcome(s string) (Outcome, error) {
	key := Outcome(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_"))
	for _, o := range allOutcomes {
		if o == key {
			return o, nil
		}
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrUnknownOutcome, s, outcomeNames())
}

func outcomeNames() string {
	names := make([]string, len(allOutcomes))
	for i, o := range allOutcomes {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool {
	for _, k := range allOutcomes {
		if o == k {
			return true
		}
	}
	return false
}

// Places reports whether the outcome places a call (the phone would ring or
// at least the provider dialled it).
func (o Outcome) Places() bool {
	switch o {
	case OutcomeAnswered, OutcomeBusy, OutcomeNoAnswer, OutcomeUnreachable, OutcomeRejected, OutcomeSlow, OutcomeResultSuccess:
		return true
	}
	return false
}

// Cause is the telephony status a placed call ends with ("" when no call is placed).
func (o Outcome) Cause() string {
	switch o {
	case OutcomeAnswered:
		return "NORMAL_CLEARING"
	case OutcomeBusy:
		return "USER_BUSY"
	case OutcomeNoAnswer, OutcomeSlow:
		return "NO_ANSWER"
	case OutcomeUnreachable:
		return "SUBSCRIBER_ABSENT"
	case OutcomeRejected:
		return "CALL_REJECTED"
	case OutcomeResultSuccess:
		return resultSuccess
	}
	return ""
}

// Defaults applied by New for zero Config fields.
const (
	DefaultSettleDelay  = 2 * time.Second
	DefaultSlowExtra    = 60 * time.Second
	DefaultCallerPrefix = "7495"
	DefaultPinLength    = 4
	DefaultMaxCalls     = 10000
	// callerDigits is the length of a calling number (Russian E.164 without '+').
	callerDigits = 11
)

// Config configures a Simulator. Zero values take the documented defaults.
type Config struct {
	// Tokens are the accepted bearer tokens: 32 or 64 lower-case hex
	// characters each. At least one is required.
	Tokens []string
	// AllowedIPs is an optional source-IP allow-list (CIDRs or single IPs),
	// checked against the connection's remote address only (proxy headers
	// are not trusted). Empty allows every source.
	AllowedIPs []string
	// SettleDelay is how long a call stays "null" before its final status
	// (default 2s). Synchronous starts wait this long, capped by the
	// request's timeout.
	SettleDelay time.Duration
	// SlowExtra is how long past the request's timeout a "slow" answer is
	// held back (default 60s).
	SlowExtra time.Duration
	// CallerPrefix is the pool's calling-number prefix, e.g. "7495"; the rest
	// of the 11-digit calling number is random (default "7495").
	CallerPrefix string
	// PinLength is how many trailing digits v1 (pin) and v2 (phone) return
	// (default 4; the provider's text says 5, its samples show 4). v3 always
	// returns the last 7 digits.
	PinLength int
	// DefaultOutcome applies to numbers without a script (default no_answer).
	DefaultOutcome Outcome
	// Scripts maps a destination number ("79001234567") to its outcome.
	Scripts map[string]Outcome
	// Clock returns the current time (default time.Now). It dates records and
	// decides when asynchronous calls settle; waits use real timers.
	Clock func() time.Time
	// Logger receives one line per request; nil discards. Numbers are masked
	// and codes are never logged.
	Logger *slog.Logger
	// MaxCalls caps the remembered calls (ring buffer, default 10000).
	MaxCalls int
}

// withDefaults returns a copy with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.SettleDelay == 0 {
		c.SettleDelay = DefaultSettleDelay
	}
	if c.SlowExtra == 0 {
		c.SlowExtra = DefaultSlowExtra
	}
	if c.CallerPrefix == "" {
		c.CallerPrefix = DefaultCallerPrefix
	}
	if c.PinLength == 0 {
		c.PinLength = DefaultPinLength
	}
	if c.DefaultOutcome == "" {
		c.DefaultOutcome = OutcomeNoAnswer
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks the configuration (zero fields count as their defaults)
// and returns every problem found, joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Tokens) == 0 {
		errs = append(errs, errors.New("sim: at least one token is required"))
	}
	for i, t := range c.Tokens {
		if !validToken(t) {
			// Never echo the token itself.
			errs = append(errs, fmt.Errorf("sim: token #%d must be 32 or 64 lower-case hex characters (got %d characters)", i+1, len(t)))
		}
	}
	if _, err := parseAllowList(c.AllowedIPs); err != nil {
		errs = append(errs, err)
	}
	if c.SettleDelay < 0 {
		errs = append(errs, fmt.Errorf("sim: settle delay must not be negative (got %s)", c.SettleDelay))
	}
	if c.SlowExtra < 0 {
		errs = append(errs, fmt.Errorf("sim: slow extra delay must not be negative (got %s)", c.SlowExtra))
	}
	if c.PinLength < 4 || c.PinLength > 7 {
		errs = append(errs, fmt.Errorf("sim: pin length must be 4..7 (got %d)", c.PinLength))
	}
	if !phone.AllDigits(c.CallerPrefix) || len(c.CallerPrefix) > callerDigits-c.PinLength {
		errs = append(errs, fmt.Errorf("sim: caller prefix must be 1..%d digits (got %q)", max(callerDigits-c.PinLength, 1), c.CallerPrefix))
	}
	if !c.DefaultOutcome.Valid() {
		errs = append(errs, fmt.Errorf("sim: default outcome: %w %q (known: %s)", ErrUnknownOutcome, c.DefaultOutcome, outcomeNames()))
	}
	for dn, o := range c.Scripts {
		if _, ok := normalizeDN(dn); !ok {
			errs = append(errs, fmt.Errorf("sim: script number %q is not an 11..15 digit number starting with 7", dn))
		}
		if !o.Valid() {
			errs = append(errs, fmt.Errorf("sim: script outcome for %s: %w %q", maskDN(dn), ErrUnknownOutcome, o))
		}
	}
	if c.MaxCalls < 0 {
		errs = append(errs, fmt.Errorf("sim: max calls must not be negative (got %d)", c.MaxCalls))
	}
	return errors.Join(errs...)
}

func validToken(t string) bool {
	if len(t) != 32 && len(t) != 64 {
		return false
	}
	for _, r := range t {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func parseAllowList(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("sim: allowed IP %q is not a CIDR: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("sim: allowed IP %q is not an IP address or CIDR: %w", s, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// normalizeDN turns user-ish input ("+7 (900) 123-45-67", "89001234567")
// into the provider's form "79001234567": strip non-digits, a leading 8 of an
// 11-digit number becomes 7. ok is false unless the result is 11..15 digits
// starting with 7.
func normalizeDN(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	d := b.String()
	if len(d) == callerDigits && d[0] == '8' {
		d = "7" + d[1:]
	}
	return d, len(d) >= 11 && len(d) <= 15 && d[0] == '7'
}

// maskDN keeps enough of a number to tell test cases apart in logs without
// logging the number: country + operator code and the last two digits.
func maskDN(dn string) string {
	if len(dn) < 7 {
		return strings.Repeat("*", len(dn))
	}
	return dn[:4] + strings.Repeat("*", len(dn)-6) + dn[len(dn)-2:]
}
