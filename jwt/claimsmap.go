package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonnet "github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"
	"github.com/google/go-jsonnet/toolutils"
)

// ErrClaimsMapper is wrapped by every claims-mapper failure (compile,
// evaluation, wrong result shape, too large).
var ErrClaimsMapper = errors.New("jwt: claims mapper")

// Mapper limits. The mapper is operator configuration, not user input, but
// a mistake in it (or work that grows with a user's traits) must not take
// the issuer down: recursion is bounded by the call depth (tailstrict, which
// escapes that count and can overflow Go's stack, is refused at load), and
// each evaluation by time.
const (
	mapperMaxStack   = 200      // jsonnet call depth
	mapperMaxSnippet = 64 << 10 // bytes of jsonnet source
	mapperMaxOutput  = 16 << 10 // bytes of evaluated JSON
	// mapperMaxTime bounds one evaluation; a token that needs longer is
	// refused. An evaluation cannot be stopped, so one that overruns keeps
	// its slot until it ends: at most mapperSlots run at once.
	mapperMaxTime = time.Second
	mapperSlots   = 16
)

// reservedClaims are set by the Issuer only. A claims mapper that returns one
// of them has it dropped (the issuer's value always wins, as Kratos does for
// "sub"); Issue logs the dropped names at warn level. Unexported: the list
// decides what a mapper may override, so no other package may change it.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"sid", "amr", "auth_time", "phone_number", "phone_number_verified",
}

// ReservedClaims returns a copy of the claims only the Issuer sets; a claims
// mapper's value for any of them is dropped.
func ReservedClaims() []string { return slices.Clone(reservedClaims) }

func isReserved(name string) bool { return slices.Contains(reservedClaims, name) }

// ClaimsMapper adds claims to each token from a jsonnet snippet, like the
// Kratos session tokenizer's claims_mapper_url. The snippet sees
//
//	std.extVar("claims")  // the token's claims so far plus identity_id, traits, metadata_public
//	std.extVar("session") // {id, identity: {id, traits, metadata_public}, authentication_methods: [{method}], authenticated_at, expires_at}
//
// and returns either {claims: {...}} (the Kratos form; other top-level
// fields are ignored) or a plain object whose fields are the extra claims.
// Any other result is an error. Imports are refused.
type ClaimsMapper struct {
	name  string
	node  ast.Node // parsed once, evaluated per token
	slots chan struct{}
	limit time.Duration
}

// NewClaimsMapper compiles snippet; name appears in error messages.
func NewClaimsMapper(name, snippet string) (*ClaimsMapper, error) {
	if len(snippet) > mapperMaxSnippet {
		return nil, fmt.Errorf("%w: %s: snippet larger than %d bytes", ErrClaimsMapper, name, mapperMaxSnippet)
	}
	node, err := jsonnet.SnippetToAST(name, snippet)
	if err != nil {
		return nil, fmt.Errorf("%w: compile %s: %v", ErrClaimsMapper, name, err)
	}
	if hasTailStrict(node) {
		return nil, fmt.Errorf("%w: %s: tailstrict is not allowed (it escapes the mapper's call-depth limit)", ErrClaimsMapper, name)
	}
	return &ClaimsMapper{name: name, node: node, slots: make(chan struct{}, mapperSlots), limit: mapperMaxTime}, nil
}

// hasTailStrict reports whether any call in the tree is marked tailstrict.
func hasTailStrict(n ast.Node) bool {
	if a, ok := n.(*ast.Apply); ok && a.TailStrict {
		return true
	}
	for _, c := range toolutils.Children(n) {
		if c != nil && hasTailStrict(c) {
			return true
		}
	}
	return false
}

// LoadClaimsMapper reads and compiles a jsonnet file.
func LoadClaimsMapper(path string) (*ClaimsMapper, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClaimsMapper, err)
	}
	return NewClaimsMapper(path, string(src))
}

// noImports refuses every import so a mapper cannot read local files.
type noImports struct{}

func (noImports) Import(_, path string) (jsonnet.Contents, string, error) {
	return jsonnet.Contents{}, "", fmt.Errorf("imports are disabled in claims mappers (%q)", path)
}

// Map evaluates the mapper for one token. base holds the claims the issuer
// has set; the result holds only the extra claims, reserved names removed
// (listed in dropped, sorted).
func (m *ClaimsMapper) Map(base map[string]any, s Subject) (extra map[string]any, dropped []string, err error) {
	claimsIn := make(map[string]any, len(base)+3)
	for k, v := range base {
		claimsIn[k] = v
	}
	claimsIn["identity_id"] = s.IdentityID
	claimsIn["traits"] = rawOrNull(s.Traits)
	claimsIn["metadata_public"] = rawOrNull(s.MetadataPublic)
	methods := make([]map[string]string, 0, len(s.Methods))
	for _, meth := range s.Methods {
		methods = append(methods, map[string]string{"method": meth})
	}
	session := map[string]any{
		"id": s.SessionID,
		"identity": map[string]any{
			"id": s.IdentityID, "traits": rawOrNull(s.Traits), "metadata_public": rawOrNull(s.MetadataPublic),
		},
		"authentication_methods": methods,
		"authenticated_at":       timeOrNull(s.AuthTime),
		"expires_at":             timeOrNull(s.SessionExpiresAt),
	}
	claimsJSON, err := json.Marshal(claimsIn)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: encode claims input: %v", ErrClaimsMapper, m.name, err)
	}
	sessionJSON, err := json.Marshal(session)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: encode session input: %v", ErrClaimsMapper, m.name, err)
	}

	out, err := m.evaluate(string(claimsJSON), string(sessionJSON))
	if err != nil {
		return nil, nil, err
	}
	if len(out) > mapperMaxOutput {
		return nil, nil, fmt.Errorf("%w: %s: result larger than %d bytes", ErrClaimsMapper, m.name, mapperMaxOutput)
	}
	extra, dropped, err = decodeMapperResult(m.name, []byte(out))
	if err != nil {
		return nil, nil, err
	}
	if exact := exactIntegers(s.Traits, s.MetadataPublic); len(exact) > 0 {
		for k, v := range extra {
			extra[k] = restoreIntegers(v, exact)
		}
	}
	return extra, dropped, nil
}

// evaluate runs the mapper within its time limit and a free slot.
func (m *ClaimsMapper) evaluate(claimsJSON, sessionJSON string) (string, error) {
	timer := time.NewTimer(m.limit)
	defer timer.Stop()
	select {
	case m.slots <- struct{}{}:
	case <-timer.C:
		return "", fmt.Errorf("%w: %s: %d evaluations already running past the %s limit", ErrClaimsMapper, m.name, cap(m.slots), m.limit)
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-m.slots }()
		vm := jsonnet.MakeVM() // a VM is not safe for concurrent use; the AST is shared read-only
		vm.MaxStack = mapperMaxStack
		vm.Importer(noImports{})
		vm.SetTraceOut(io.Discard)
		vm.ExtCode("claims", claimsJSON)
		vm.ExtCode("session", sessionJSON)
		out, err := vm.Evaluate(m.node)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", m.runtimeError(r.err)
		}
		return r.out, nil
	case <-timer.C:
		return "", fmt.Errorf("%w: %s: evaluation took longer than %s", ErrClaimsMapper, m.name, m.limit)
	}
}

// runtimeError is the error for an evaluation that failed. jsonnet's own
// message is left out: it quotes values (std.parseInt's "… is not a base 10
// integer", an assertion's operands, the text of an error expression), and
// the inputs hold the user's phone number, traits and metadata_public, while
// the error ends up in logs. What is kept is the position in the mapper's
// own source of the innermost frame there: numbers only (frames of other
// "files", such as a field being manifested, are named after the field,
// which a computed key can take from the user's data). Compile errors, from
// the operator's file alone, are reported in full by NewClaimsMapper.
func (m *ClaimsMapper) runtimeError(err error) error {
	var re jsonnet.RuntimeError
	if errors.As(err, &re) {
		for i := len(re.StackTrace) - 1; i >= 0; i-- {
			loc := re.StackTrace[i].Loc
			if loc.FileName == m.name && loc.Begin.Line > 0 {
				return fmt.Errorf("%w: %s: evaluation failed at run time at line %d, column %d (jsonnet's message is withheld: it may quote user data)",
					ErrClaimsMapper, m.name, loc.Begin.Line, loc.Begin.Column)
			}
		}
	}
	return fmt.Errorf("%w: %s: evaluation failed at run time (jsonnet's message is withheld: it may quote user data)", ErrClaimsMapper, m.name)
}

func decodeMapperResult(name string, out []byte) (map[string]any, []string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil || top == nil {
		return nil, nil, fmt.Errorf("%w: %s: result must be an object", ErrClaimsMapper, name)
	}
	body := out
	if c, ok := top["claims"]; ok {
		body = c
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep large integers exact
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, nil, fmt.Errorf("%w: %s: \"claims\" must be an object", ErrClaimsMapper, name)
	}
	var dropped []string
	for k := range claims {
		if isReserved(k) {
			dropped = append(dropped, k)
			delete(claims, k)
		}
	}
	slices.Sort(dropped)
	return claims, dropped, nil
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(r)) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// Jsonnet numbers are float64: an integer of metadata_public above 2^53 (a
// tenant id set by an admin) that a mapper copies into a claim comes out of
// the evaluation rounded (1234567890123456789 as 1234567890123456768). Map
// writes such a number back as it was in metadata_public: each integer there
// that a float64 cannot hold is noted with its float64 value, and a number of
// the mapper's result with that value (which, being that large, jsonnet
// prints as an integer) becomes the original integer. The token then carries
// the exact value, and a reader that parses it into a float64 gets the
// number it got before.
//
// Only metadata_public is a source: traits are the user's to edit, and a
// user must not be able to choose the exact integer a claim computed by the
// mapper shows. A value held by two different numbers of traits or
// metadata_public (say 1234567890123456789 and 1234567890123456790, both
// 1234567890123456768 as a float64), or by a metadata number and a run of
// digits in a trait string (which the mapper may parse), is left as jsonnet
// gave it: which one the mapper used cannot be told. What is not caught: a
// mapper that computes such a float64 from a trait by arithmetic gets the
// exact metadata integer in that claim (a value of the user's own
// metadata_public).
const float64Exact = 1 << 53 // every integer up to this is a float64

// exactIntegers maps the float64 value of each integer of meta that a
// float64 cannot hold to that integer's literal (nil when there is none).
func exactIntegers(traits, meta json.RawMessage) map[float64]json.Number {
	if !hasLongDigitRun(meta) {
		return nil // fast path: no integer of 16 digits or more
	}
	type seen struct {
		lit      json.Number
		fromMeta bool
		clash    bool
	}
	nums := map[float64]*seen{}
	note := func(raw json.RawMessage, fromMeta bool) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		for {
			tok, err := dec.Token()
			if err != nil {
				return // io.EOF, or input Kratos would not send
			}
			var lits []json.Number
			switch v := tok.(type) {
			case json.Number:
				lits = append(lits, v)
			case string:
				// A trait string of digits can become a number in the
				// mapper (std.parseInt): it clashes like a number would.
				if !fromMeta {
					lits = digitRuns(v)
				}
			}
			for _, n := range lits {
				f, err := n.Float64()
				if err != nil || math.Abs(f) < float64Exact {
					continue
				}
				switch prev := nums[f]; {
				case prev == nil:
					nums[f] = &seen{lit: n, fromMeta: fromMeta}
				case prev.lit != n:
					prev.clash = true
				}
			}
		}
	}
	note(meta, true)
	note(traits, false)
	var out map[float64]json.Number
	for f, n := range nums {
		if n.clash || !n.fromMeta || !isPlainInteger(n.lit) || string(n.lit) == strconv.FormatFloat(f, 'f', 0, 64) {
			continue // ambiguous, the user's, or already exact as jsonnet prints it
		}
		if out == nil {
			out = map[float64]json.Number{}
		}
		out[f] = n.lit
	}
	return out
}

// digitRuns returns the runs of 16 digits or more in s (with a '-' just
// before, negative), as numbers.
func digitRuns(s string) []json.Number {
	var out []json.Number
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i >= 16 {
			start := i
			if start > 0 && s[start-1] == '-' {
				start--
			}
			out = append(out, json.Number(s[start:j]))
		}
		i = j
	}
	return out
}

// hasLongDigitRun reports whether b holds 16 digits in a row: an integer
// above 2^53 has that many (a phone number has at most 15).
func hasLongDigitRun(b []byte) bool {
	run := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			if run++; run >= 16 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// isPlainInteger reports whether n is written as an integer (no fraction
// or exponent).
func isPlainInteger(n json.Number) bool {
	return n != "" && !strings.ContainsAny(string(n), ".eE")
}

// restoreIntegers returns v with every integer whose float64 value is a key
// of exact replaced by exact's literal.
func restoreIntegers(v any, exact map[float64]json.Number) any {
	switch x := v.(type) {
	case json.Number:
		if !isPlainInteger(x) {
			return x
		}
		if f, err := x.Float64(); err == nil {
			if lit, ok := exact[f]; ok {
				return lit
			}
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = restoreIntegers(e, exact)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = restoreIntegers(e, exact)
		}
		return x
	default:
		return v
	}
}
