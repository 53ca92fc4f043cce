package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

//go:embed templates/*.html
var templateFS embed.FS

type config struct {
	Listen        string
	KratosPublic  string // Kratos public API as this server reaches it
	KratosBrowser string // Kratos public API as the browser reaches it
	AppURL        string // where /welcome sends the user, with the callpass_jwt cookie
	CallpassURL   string // callpass-kratos service (POST /v1/token)
	UIURL         string // this UI's own origin as the browser sees it (sent as Origin to callpass)
	PendingTTL    time.Duration
	TrustProxy    bool
	HTTPClient    *http.Client // nil: a client that does not follow redirects
	Logger        *slog.Logger
	Now           func() time.Time
}

func (c config) secureCookies() bool { return strings.HasPrefix(c.UIURL, "https://") }

type server struct {
	cfg     config
	kratos  *kratosClient
	render  *ui.Renderer
	tmpl    *template.Template
	pending *pendingStore
	log     *slog.Logger
	http    *http.Client
}

// flowKinds are the Kratos browser flows this UI renders.
var flowKinds = []string{"login", "registration", "settings", "recovery", "verification"}

// newServer builds the UI's HTTP handler.
func newServer(cfg config) (http.Handler, error) {
	_, h, err := buildServer(cfg)
	return h, err
}

func buildServer(cfg config) (*server, http.Handler, error) {
	pub, err := url.Parse(cfg.KratosPublic)
	if err != nil || pub.Scheme == "" || pub.Host == "" {
		return nil, nil, fmt.Errorf("invalid --kratos-public %q", cfg.KratosPublic)
	}
	for name, v := range map[string]string{"--kratos-browser-url": cfg.KratosBrowser, "--app-url": cfg.AppURL, "--callpass-url": cfg.CallpassURL} {
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, nil, fmt.Errorf("invalid %s %q", name, v)
		}
	}
	if cfg.PendingTTL <= 0 {
		cfg.PendingTTL = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			// Redirects are the browser's business: relay them, never follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	r, err := ui.NewRenderer()
	if err != nil {
		return nil, nil, err
	}
	t, err := template.New("x").Funcs(template.FuncMap{"t": ui.Text}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, nil, err
	}
	s := &server{
		cfg: cfg, render: r, tmpl: t, log: cfg.Logger, http: cfg.HTTPClient,
		kratos:  &kratosClient{public: pub, http: cfg.HTTPClient},
		pending: newPendingStore(cfg.PendingTTL, cfg.Now),
	}
	mux := http.NewServeMux()
	mux.Handle(r.AssetPrefix(), r.Assets())
	for _, kind := range flowKinds {
		mux.HandleFunc("GET /"+kind, s.handleFlow(kind))
		mux.HandleFunc("POST /"+kind+"/submit", s.handleSubmit(kind))
	}
	mux.HandleFunc("GET /error", s.handleError)
	mux.HandleFunc("GET /welcome", s.handleWelcome)
	mux.HandleFunc("GET /logout", s.handleLogout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/welcome", http.StatusSeeOther)
	})
	return s, securityHeaders(mux), nil
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// No inline scripts or styles anywhere; data: images for TOTP QR codes.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// lang picks the language and remembers an explicit ?lang= choice.
func (s *server) lang(w http.ResponseWriter, r *http.Request) string {
	l := ui.PickLang(r)
	if r.URL.Query().Get("lang") != "" {
		ui.SetLangCookie(w, l)
	}
	return l
}

// initURL is Kratos's browser endpoint that creates a new flow of kind,
// keeping returnTo (Kratos checks it against allowed_return_urls).
func (s *server) initURL(kind, returnTo string) string {
	u := strings.TrimSuffix(s.cfg.KratosBrowser, "/") + "/self-service/" + kind + "/browser"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	return u
}

// langLinks builds the language switcher. Its links are GETs of the page in
// another language, so a page rendered in answer to a POST /<kind>/submit
// (an error) links to its flow's page, /<kind>?flow=…, never to the
// POST-only relay; a POST to anything else gets no switcher.
func langLinks(r *http.Request, lang string) []ui.LangLink {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return ui.LangLinks(r, lang)
	}
	kind, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/submit")
	if !ok || !slices.Contains(flowKinds, kind) {
		return nil
	}
	q := url.Values{}
	if id := r.URL.Query().Get("flow"); validFlowID(id) {
		q.Set("flow", id)
	}
	return ui.LangLinksFor(&url.URL{Path: "/" + kind, RawQuery: q.Encode()}, lang)
}

func (s *server) page(w http.ResponseWriter, r *http.Request, status int, lang, title string, body template.HTML) {
	var b bytes.Buffer
	err := s.render.Page(&b, ui.PageData{Title: title, Lang: lang, Body: body, LangLinks: langLinks(r, lang), BrandURL: "/welcome"})
	if err != nil {
		s.log.Error("render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *server) exec(name string, data any) (template.HTML, error) {
	var b bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil // #nosec: produced by html/template
}

func (s *server) renderError(w http.ResponseWriter, r *http.Request, status int, key, details string) {
	lang := ui.PickLang(r)
	body, err := s.exec("error", map[string]any{
		"Lang": lang, "Title": ui.Text(lang, "page.error"), "Text": ui.Text(lang, key), "Details": details,
		"Home": "/login",
	})
	if err != nil {
		s.log.Error("render error page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.page(w, r, status, lang, ui.Text(lang, "page.error"), body)
}

// handleFlow renders a Kratos browser flow, or starts one.
func (s *server) handleFlow(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lang := s.lang(w, r)
		id := r.URL.Query().Get("flow")
		returnTo := r.URL.Query().Get("return_to")
		if !validFlowID(id) {
			http.Redirect(w, r, s.initURL(kind, returnTo), http.StatusSeeOther)
			return
		}
		f, err := s.kratos.getFlow(r.Context(), r, kind, id)
		if errors.Is(err, errFlowGone) {
			// A new flow for the same destination: Kratos names the expired
			// flow's return_to in its 410.
			var gone *flowGoneError
			if errors.As(err, &gone) && gone.returnTo != "" {
				returnTo = gone.returnTo
			}
			http.Redirect(w, r, s.initURL(kind, returnTo), http.StatusSeeOther)
			return
		}
		if err != nil {
			s.log.Error("fetch flow", "kind", kind, "flow", id, "err", err)
			s.renderError(w, r, http.StatusBadGateway, "page.kratos_down", "")
			return
		}
		browser := s.browserID(r)
		if changeNumber(kind, r) {
			// "Change number" from the code step: the flow's form again (Kratos
			// keeps the traits typed), without the call's message. Submitting
			// it starts over with the corrected number.
			if browser != "" {
				s.pending.delete(id, browser)
			}
			if back, ok := previousScreen(f); ok {
				// Kratos's two-step registration is at its password screen,
				// where the number is a hidden field: take the flow back to
				// the profile (Kratos's own "Back"), whose page Kratos then
				// redirects to.
				s.forward(w, r, kind, id, browser, back)
				return
			}
			f.UI.Messages = slices.DeleteFunc(f.UI.Messages, func(m uiText) bool { return ui.IsCallPassMessage(m.ID) })
		} else if msg, ok := callpassMessage(f); ok && kind != "recovery" && kind != "verification" {
			if p, found := s.pending.get(id, browser); found && browser != "" {
				s.renderCodeStep(w, r, lang, kind, f, msg, p)
				return
			}
			// The code step needs the remembered submission; without it the
			// user submits the form again (which re-runs the hook and reuses the call).
			f.UI.Messages = []uiText{{ID: 0, Type: "info", Text: pendingExpiredText(lang, kind)}}
		} else if browser != "" {
			// Not (or no longer) in the code step: nothing to resubmit.
			s.pending.delete(id, browser)
		}
		if r.URL.Query().Get("callpass") == "expired" && len(f.UI.Messages) == 0 {
			f.UI.Messages = append(f.UI.Messages, uiText{Type: "info", Text: pendingExpiredText(lang, kind)})
		}
		view := buildFlowView(lang, kind, f, s.cfg.KratosBrowser)
		body, err := s.exec("flow", view)
		if err != nil {
			s.log.Error("render flow", "kind", kind, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		s.page(w, r, http.StatusOK, lang, view.Title, body)
	}
}

// pendingExpiredText says the remembered submission is gone, in the words
// of the flow: sign-in, registration or saving settings.
func pendingExpiredText(lang, kind string) string {
	if kind == "registration" || kind == "settings" {
		return ui.Text(lang, "page.pending_expired."+kind)
	}
	return ui.Text(lang, "page.pending_expired")
}

// changeNumber: the code step's "Change number" link (registration and
// settings confirm a number the user typed, and may have mistyped).
func changeNumber(kind string, r *http.Request) bool {
	return (kind == "registration" || kind == "settings") && r.URL.Query().Get("callpass") == "change"
}

// previousScreen is the submission of the flow's "Back" to the profile
// screen (Kratos's two-step registration: submit screen=previous), with the
// hidden fields that go with it (csrf_token, the traits); ok is false when
// the flow has no such button.
func previousScreen(f *kratosFlow) (url.Values, bool) {
	form, ok := url.Values{}, false
	for _, n := range f.UI.Nodes {
		a := n.Attributes
		switch {
		case a.NodeType != "input":
		case a.Type == "hidden":
			form.Set(a.Name, valueString(a.Value))
		case a.Name == "screen" && valueString(a.Value) == "previous":
			ok = true
		}
	}
	form.Set("screen", "previous")
	return form, ok
}

// changeNumberURL is the flow's form again, see changeNumber.
func changeNumberURL(kind, flowID string) string {
	return "/" + kind + "?flow=" + url.QueryEscape(flowID) + "&callpass=change"
}

// callpassMessage finds the gate's interrupt message in the flow (the last one wins).
func callpassMessage(f *kratosFlow) (uiText, bool) {
	var found uiText
	ok := false
	for _, m := range f.UI.Messages {
		if ui.IsCallPassMessage(m.ID) {
			found, ok = m, true
		}
	}
	return found, ok
}

func (s *server) renderCodeStep(w http.ResponseWriter, r *http.Request, lang, kind string, f *kratosFlow, msg uiText, p pending) {
	step := p.step
	if !p.hasStep {
		step = ui.CodeStep{AttemptsLeft: -1}
	}
	step.Now = s.cfg.Now() // retry_after in the message counts from now
	step.Message = nil
	step.ApplyMessage(ui.Message{ID: msg.ID, Type: msg.Type, Text: msg.Text, Context: msg.Context})
	// Remember phone mask, length and times for later messages that lack them.
	browser := s.browserID(r)
	s.pending.setStep(f.ID, browser, step)

	step.Lang = lang
	step.Now = s.cfg.Now()
	step.FormAction = "/" + kind + "/submit?flow=" + url.QueryEscape(f.ID)
	step.HiddenFields = map[string]string{fieldCSRF: f.csrfToken()}
	step.CodeFieldName = fieldCode
	step.ResendFieldName = fieldResend
	step.Flow = kind
	// The remembered submission the resend/retry button replays ends here: a
	// longer wait (a ban, an hourly limit) gets a way to start over instead
	// of a countdown ending in "took too long".
	step.UsableUntil = p.expires
	switch kind {
	case "login":
		// Another account, same destination as this flow.
		step.StartOverURL = s.initURL(kind, f.ReturnTo)
		step.RestartURL = step.StartOverURL
	case "registration", "settings":
		step.ChangeNumberURL = changeNumberURL(kind, f.ID)
		step.RestartURL = step.ChangeNumberURL
	}
	if kind == "settings" {
		// Only with a session: at login or registration the settings would
		// send the user back to sign in.
		step.SettingsURL = strings.TrimSuffix(s.cfg.KratosBrowser, "/") + "/self-service/settings/browser"
	}
	body, err := s.render.CodeStepHTML(step)
	if err != nil {
		s.log.Error("render code step", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.page(w, r, http.StatusOK, lang, ui.CodeStepTitle(lang, kind), body)
}

func (s *server) handleError(w http.ResponseWriter, r *http.Request) {
	s.lang(w, r) // remember an explicit ?lang=; renderError picks it again
	id := r.URL.Query().Get("id")
	details := ""
	if validFlowID(id) {
		var e kratosError
		status, err := s.kratos.getJSON(r.Context(), r, "/self-service/errors", url.Values{"id": {id}}, &e)
		if err == nil && status == http.StatusOK {
			parts := []string{}
			for _, p := range []string{e.Error.Status, e.Error.Message, e.Error.Reason} {
				if p != "" {
					parts = append(parts, p)
				}
			}
			details = strings.Join(parts, " — ")
		}
	}
	s.renderError(w, r, http.StatusOK, "page.error", details)
}

func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	// The app token goes in every case: a Kratos session that already ended
	// (expired, revoked, another tab) must not leave the app signed in.
	http.SetCookie(w, &http.Cookie{Name: "callpass_jwt", Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	var out logoutURL
	status, err := s.kratos.getJSON(r.Context(), r, "/self-service/logout/browser", nil, &out)
	if err != nil || status != http.StatusOK || out.LogoutURL == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, out.LogoutURL, http.StatusSeeOther)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Message     string `json:"message"`
}

// handleWelcome exchanges the gated Kratos session for the service's JWT,
// stores it in the callpass_jwt cookie and sends the user to the app.
// Cookies ignore ports, so a host-only cookie set here (127.0.0.1:4455)
// reaches the app on 127.0.0.1:4480.
func (s *server) handleWelcome(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(w, r)
	var sess kratosSession
	status, err := s.kratos.getJSON(r.Context(), r, "/sessions/whoami", nil, &sess)
	if err != nil {
		s.log.Error("whoami", "err", err)
		s.renderError(w, r, http.StatusBadGateway, "page.kratos_down", "")
		return
	}
	if status != http.StatusOK {
		http.Redirect(w, r, s.initURL("login", r.URL.Query().Get("return_to")), http.StatusSeeOther)
		return
	}
	tok, code, err := s.fetchToken(r.Context(), r)
	if err != nil || tok.AccessToken == "" {
		s.log.Warn("token exchange failed", "status", code, "error_code", tok.Error, "err", err)
		msg, detail, gate := "page.token_failed", tok.Error, false
		if tok.Error == "forbidden" {
			// The session did not pass the call gate (e.g. fresh from
			// registration): not an error, one more step. /login would only
			// bounce back here (there is a session): re-authenticate it.
			msg, detail, gate = "page.token_gate", "", true
		}
		body, rerr := s.exec("welcome", map[string]any{
			"Lang": lang, "SignedIn": ui.Format(lang, "page.welcome.signed_in", map[string]any{"who": who(sess)}), "Error": ui.Text(lang, msg),
			"Gate": gate, "Detail": detail, "AppURL": s.cfg.AppURL,
			"Login": strings.TrimSuffix(s.cfg.KratosBrowser, "/") + "/self-service/login/browser?refresh=true",
		})
		if rerr != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		s.page(w, r, http.StatusOK, lang, ui.Text(lang, "page.welcome"), body)
		return
	}
	maxAge := tok.ExpiresIn
	if maxAge <= 0 {
		maxAge = 300
	}
	http.SetCookie(w, &http.Cookie{
		Name: "callpass_jwt", Value: tok.AccessToken, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.AppURL, "https://"),
	})
	http.Redirect(w, r, s.cfg.AppURL, http.StatusSeeOther)
}

func (s *server) fetchToken(ctx context.Context, r *http.Request) (tokenResponse, int, error) {
	var tok tokenResponse
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := strings.TrimSuffix(s.cfg.CallpassURL, "/") + "/v1/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
	if err != nil {
		return tok, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// Cookie-authenticated POSTs need an allowed Origin (CSRF check): ours.
	req.Header.Set("Origin", s.cfg.UIURL)
	if c := r.Header.Get("Cookie"); c != "" {
		req.Header.Set("Cookie", c)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return tok, 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return tok, resp.StatusCode, fmt.Errorf("decode token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return tok, resp.StatusCode, fmt.Errorf("token: HTTP %d", resp.StatusCode)
	}
	return tok, resp.StatusCode, nil
}

func who(s kratosSession) string {
	if e, ok := s.Identity.Traits["email"].(string); ok && e != "" {
		return e
	}
	return s.Identity.ID
}
