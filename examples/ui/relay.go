package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// Field names the code step posts to /<kind>/submit. They are ours, never
// forwarded to Kratos as such: they become transient_payload.
const (
	fieldCode   = "callpass_code"
	fieldResend = "callpass_resend"
	fieldCSRF   = "csrf_token"
	// pendingCookie ties the remembered submission to this browser, so
	// knowing a flow id alone never lets anyone replay someone's password.
	pendingCookie = "cpui_pending"
	maxPending    = 10000
)

// pending is the last credential submission of one flow in one browser,
// kept so the code step can resubmit it without the user typing the password
// again (Kratos re-runs the password method, and thus the hook, on every
// submission). Never logged; wiped on success, on leaving the code step and
// after the TTL.
type pending struct {
	fields  url.Values
	step    ui.CodeStep // what the last CallPass message told us (phone mask, length…)
	hasStep bool
	expires time.Time
}

func (p *pending) wipe() {
	for k, vs := range p.fields {
		for i := range vs {
			vs[i] = ""
		}
		delete(p.fields, k)
	}
}

type pendingStore struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]*pending
}

func newPendingStore(ttl time.Duration, now func() time.Time) *pendingStore {
	return &pendingStore{ttl: ttl, now: now, m: map[string]*pending{}}
}

func pendingKey(flowID, browser string) string { return flowID + "|" + browser }

// sweepLocked drops expired entries; called on every access, so no goroutine.
func (s *pendingStore) sweepLocked() {
	now := s.now()
	for k, p := range s.m {
		if now.After(p.expires) {
			p.wipe()
			delete(s.m, k)
		}
	}
}

func (s *pendingStore) put(flowID, browser string, fields url.Values) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	k := pendingKey(flowID, browser)
	if old, ok := s.m[k]; ok {
		old.wipe()
	} else if len(s.m) >= maxPending {
		return false
	}
	s.m[k] = &pending{fields: fields, expires: s.now().Add(s.ttl)}
	return true
}

// get returns a copy so callers never hold the shared entry.
func (s *pendingStore) get(flowID, browser string) (pending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	p, ok := s.m[pendingKey(flowID, browser)]
	if !ok {
		return pending{}, false
	}
	cp := *p
	cp.fields = url.Values{}
	for k, v := range p.fields {
		cp.fields[k] = append([]string(nil), v...)
	}
	return cp, true
}

func (s *pendingStore) setStep(flowID, browser string, step ui.CodeStep) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.m[pendingKey(flowID, browser)]; ok {
		p.step, p.hasStep = step, true
	}
}

func (s *pendingStore) delete(flowID, browser string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pendingKey(flowID, browser)
	if p, ok := s.m[k]; ok {
		p.wipe()
		delete(s.m, k)
	}
}

func (s *pendingStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserID returns the pending cookie value ("" without one).
func (s *server) browserID(r *http.Request) string {
	if c, err := r.Cookie(pendingCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	return ""
}

// setPendingCookie (re)writes the pending cookie with a full PendingTTL,
// like the entry it points to: a cookie kept from an earlier flow would
// otherwise expire in the middle of this one's code step.
func (s *server) setPendingCookie(w http.ResponseWriter, v string) {
	http.SetCookie(w, &http.Cookie{
		Name: pendingCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.cfg.secureCookies(), MaxAge: int(s.cfg.PendingTTL.Seconds()),
	})
}

// buildResubmission turns the code step's post into the form Kratos needs:
// the remembered credential fields (identifier, password, method=password —
// or traits for registration/settings), the fresh csrf_token, and
// transient_payload as ONE field holding a JSON string (Kratos ignores
// dotted transient_payload.* names in urlencoded posts). lang, the page's
// language, goes along as callpass_lang: this UI re-localizes the messages it
// knows by id, but one it does not (from a newer service) is shown with
// Kratos's text, which callpass_lang words in the page's language rather
// than the browser's Accept-Language.
func buildResubmission(remembered url.Values, posted url.Values, codeLength int, lang string) url.Values {
	out := url.Values{}
	for k, v := range remembered {
		if k == fieldCSRF || k == "transient_payload" {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	out.Set(fieldCSRF, posted.Get(fieldCSRF))
	payload := map[string]any{}
	if posted.Has(fieldCode) && !posted.Has(fieldResend) {
		payload["callpass_code"] = normalizeCode(posted.Get(fieldCode), codeLength)
	} else {
		payload["callpass_resend"] = true
	}
	if lang != "" {
		payload["callpass_lang"] = lang
	}
	b, _ := json.Marshal(payload) // a map of strings and a bool always marshals
	out.Set("transient_payload", string(b))
	return out
}

// normalizeCode keeps digits only and, when a whole caller number was
// pasted without JavaScript, its last n digits — the same rule as code.js.
// Fullwidth (an IME's), Arabic-Indic and Persian digits count as theirs, as
// the server reads them (challenge's foldDigits): the field takes them
// without JavaScript, and dropping them here sent an empty code.
func normalizeCode(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '\uff10' && r <= '\uff19':
			b.WriteRune('0' + r - '\uff10')
		case r >= '\u0660' && r <= '\u0669':
			b.WriteRune('0' + r - '\u0660')
		case r >= '\u06f0' && r <= '\u06f9':
			b.WriteRune('0' + r - '\u06f0')
		}
	}
	d := b.String()
	if n > 0 && len(d) > n {
		d = d[len(d)-n:]
	}
	return d
}

// handleSubmit relays a self-service form post to Kratos server-side.
// First submission: remember the credential fields, forward as is.
// Code step submission: rebuild the credential submission + transient_payload.
func (s *server) handleSubmit(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		flowID := r.URL.Query().Get("flow")
		if !validFlowID(flowID) {
			http.Redirect(w, r, s.initURL(kind, r.URL.Query().Get("return_to")), http.StatusSeeOther)
			return
		}
		posted := r.PostForm
		var out url.Values
		browser := s.browserID(r)
		if posted.Has(fieldCode) || posted.Has(fieldResend) {
			p, ok := s.pending.get(flowID, browser)
			if !ok {
				// The remembered credentials are gone (TTL, restart): ask again.
				http.Redirect(w, r, "/"+kind+"?flow="+url.QueryEscape(flowID)+"&callpass=expired", http.StatusSeeOther)
				return
			}
			n := p.step.CodeLength
			// The lang cookie (the switch) or Accept-Language: what the page was in.
			out = buildResubmission(p.fields, posted, n, ui.PickLang(r))
		} else {
			if browser == "" {
				browser = randomToken()
			}
			s.setPendingCookie(w, browser)
			out = url.Values{}
			remember := url.Values{}
			for k, v := range posted {
				out[k] = v
				if k != fieldCSRF {
					remember[k] = append([]string(nil), v...)
				}
			}
			if !s.pending.put(flowID, browser, remember) {
				s.log.Warn("pending store full; code step will ask for credentials again", "kind", kind)
			}
		}
		s.forward(w, r, kind, flowID, browser, out)
	}
}

// relayTimeout bounds one post to Kratos: Kratos's webhook timeout is 30 s.
const relayTimeout = 40 * time.Second

// forward POSTs form to Kratos's submit endpoint for the flow, with the
// browser's cookies and client headers, and relays Kratos's answer.
func (s *server) forward(w http.ResponseWriter, r *http.Request, kind, flowID, browser string, form url.Values) {
	// Not cancelled with the browser's request: a Stop or a closed tab
	// mid-post would cut Kratos off with the code maybe checked or the
	// session maybe issued, and leave the remembered password behind on
	// success. The post to Kratos runs to its end, bounded by its own
	// timeout (relayTimeout; run's shutdown waits it out).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), relayTimeout)
	defer cancel()
	target := s.kratos.url("/self-service/"+kind, url.Values{"flow": {flowID}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, "page.kratos_down", "")
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Not JSON: Kratos then answers browser flows with 303 redirects, as it would the browser.
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	for _, h := range []string{"Cookie", "User-Agent", "Accept-Language"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	// Kratos passes True-Client-Ip (not X-Forwarded-For) to hook templates;
	// the limits of the gate count per client IP, so send the browser's.
	if ip := s.clientIP(r); ip != "" {
		req.Header.Set("True-Client-Ip", ip)
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := s.kratos.http.Do(req)
	if err != nil {
		s.log.Error("kratos submit failed", "kind", kind, "flow", flowID, "err", err)
		s.renderError(w, r, http.StatusBadGateway, "page.kratos_down", "")
		return
	}
	defer resp.Body.Close()
	for _, c := range resp.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	s.log.Info("kratos submit", "kind", kind, "flow", flowID, "status", resp.StatusCode)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
		loc := resp.Header.Get("Location")
		if !s.isFlowPage(loc, kind, flowID) {
			// Left the flow page: success (return_to) or a new flow. Forget the password now.
			s.pending.delete(flowID, browser)
		}
		http.Redirect(w, r, loc, http.StatusSeeOther)
	case resp.StatusCode >= 500:
		s.log.Error("kratos submit error", "kind", kind, "flow", flowID, "status", resp.StatusCode)
		s.renderError(w, r, http.StatusBadGateway, "page.kratos_down", "")
	default:
		// Kratos rendered something itself (JSON or HTML): pass it through.
		if resp.StatusCode == http.StatusOK {
			s.pending.delete(flowID, browser)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, 4<<20))
	}
}

// isFlowPage reports whether loc is this UI's page for the same flow, i.e.
// Kratos sent the browser back to the form (interrupt, validation error).
func (s *server) isFlowPage(loc, kind, flowID string) bool {
	u, err := url.Parse(loc)
	if err != nil {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/"+kind) && u.Query().Get("flow") == flowID
}

// clientIP is the browser's address as this server sees it; X-Forwarded-For
// from the browser is trusted only with --trust-proxy (else anyone could pick
// the IP the per-IP limits count).
func (s *server) clientIP(r *http.Request) string {
	if s.cfg.TrustProxy {
		if v := r.Header.Get("True-Client-Ip"); v != "" {
			return strings.TrimSpace(v)
		}
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			return strings.TrimSpace(strings.Split(xff, ",")[0])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func validFlowID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
