package webhook

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// PageRenderer renders the end-user pages (webhook/ui.Renderer).
type PageRenderer interface {
	CodeStepHTML(s ui.CodeStep) (template.HTML, error)
	Page(w io.Writer, d ui.PageData) error
	Assets() http.Handler
	AssetPrefix() string
}

// pageRoutes serves /2fa: step-up in a browser. GET never places a call (a
// prefetch must not cost money); the user presses "call me" (POST), types
// the digits (POST), and is sent back to return_to with the JWT cookie.
func (s *Server) pageRoutes() {
	e := s.echo
	prefix := strings.TrimRight(s.deps.UI.AssetPrefix(), "/")
	e.GET(prefix+"/*", echo.WrapHandler(s.deps.UI.Assets()))
	e.GET("/2fa", s.stepUpPage)
	e.POST("/2fa", chain(s.stepUpPageStart, limitBody(apiBodyLimit), s.csrf))
	e.POST("/2fa/verify", chain(s.stepUpPageVerify, limitBody(apiBodyLimit), s.csrf))
}

func (s *Server) stepUpPage(c echo.Context) error {
	lang := ui.PickLang(c.Request())
	creds := s.credsOf(c)
	if creds.Empty() {
		return s.renderInfo(c, lang, http.StatusUnauthorized, ui.Text(lang, "stepup.signin"), s.loginURL(c), "page.to_login")
	}
	refusal := refusalFromQuery(c)
	if id := c.QueryParam("challenge"); id != "" {
		// A challenge another tab's call replaced shows the session's
		// current one, which a code posted from here is tried on.
		v, err := s.deps.Factor.StepUpFollow(c.Request().Context(), creds, id)
		if err != nil {
			return s.renderStep(c, lang, nil, err)
		}
		if v.State == string(challenge.StateVerified) {
			// Where a right code lands (and a reload, the language switch,
			// the back button from return_to): only a verified challenge of
			// this session says so, never a link's query.
			// With the way back to an allowed return_to, as the right
			// code's redirect goes.
			rt, _ := s.safeReturnTo(c.QueryParam("return_to"))
			return s.renderInfo(c, lang, http.StatusOK, ui.Text(lang, "stepup.done"), rt, "page.to_app")
		}
		return s.renderStepMessage(c, lang, &v, refusal, http.StatusOK)
	}
	if refusal != nil {
		// Refused before any call (e.g. the first "call me" hit a limit).
		return s.renderStepMessage(c, lang, nil, refusal, http.StatusOK)
	}
	// A plain section: the layout's div.cp-card is the card.
	body := template.HTML(`<section aria-labelledby="cp-title"><h1 id="cp-title">` + template.HTMLEscapeString(ui.Text(lang, "stepup.title")) +
		`</h1><p>` + template.HTMLEscapeString(ui.Text(lang, "stepup.lead")) + `</p>` +
		`<form class="cp-form" method="post" action="/2fa?` + template.HTMLEscapeString(s.keepQuery(c)) + `">` +
		`<button class="cp-btn cp-btn-primary" type="submit">` + template.HTMLEscapeString(ui.Text(lang, "stepup.start")) +
		`</button></form></section>`)
	return s.renderPage(c, lang, http.StatusOK, ui.Text(lang, "stepup.title"), body)
}

// Query parameters of a refusal shown after POST-redirect-GET: the message
// id and the parts of its context the page cannot fetch again. They only
// pick catalogue texts and times, so a forged link shows nothing new.
const (
	qError   = "error"
	qLimit   = "limit"
	qReason  = "reason"
	qRetryAt = "retry_at"
)

// refusalFromQuery is the message a refused POST redirected with (nil: none).
func refusalFromQuery(c echo.Context) *ui.Message {
	id, err := strconv.Atoi(c.QueryParam(qError))
	if err != nil || ui.StateForMessage(id) == "" || id == ui.MsgCalling {
		return nil
	}
	ctx := map[string]any{}
	switch l := c.QueryParam(qLimit); l {
	case limit.KindNumber, limit.KindIdentity, limit.KindIP, limit.KindGlobal, limit.KindPhoneCheckBudget, "resends":
		ctx["limit"] = l
	}
	if r := c.QueryParam(qReason); r == reasonEarlierCall {
		ctx["reason"] = r
	}
	// A forged link could otherwise show any wait ("try again in 3000
	// days"); the longest real one is a day (the budget and identity
	// windows).
	now := time.Now()
	if at, err := strconv.ParseInt(c.QueryParam(qRetryAt), 10, 64); err == nil && at > 0 &&
		!time.Unix(at, 0).After(now.Add(24*time.Hour+time.Minute)) {
		ctx["retry_at"] = time.Unix(at, 0).UTC().Format(time.RFC3339)
	}
	return &ui.Message{ID: id, Type: "error", Context: ctx}
}

// refused answers a refused POST with a 303 to GET /2fa showing the refusal
// (POST-redirect-GET): reloading that page re-sends no code, so it never
// burns a try, and "reload the page" in the no-JS note is safe advice.
func (s *Server) refused(c echo.Context, lang, challengeID string, err error) error {
	p := forFlow(classify(err, time.Now()), "stepup")
	if p.Code == "no_session" || p.MsgID == 0 || p.Internal {
		return s.renderStep(c, lang, nil, err) // the sign-in page, or the error as before
	}
	s.logProblem(c, err, p)
	countOutage(c, p)
	q := s.keptQuery(c)
	if challengeID != "" {
		q.Set("challenge", challengeID)
	}
	q.Set(qError, strconv.Itoa(p.MsgID))
	ctx := p.context()
	if l, ok := ctx["limit"].(string); ok {
		q.Set(qLimit, l)
	}
	if r, ok := ctx["reason"].(string); ok {
		q.Set(qReason, r)
	}
	if at, ok := ctx["retry_at"].(string); ok {
		if t, perr := time.Parse(time.RFC3339, at); perr == nil {
			q.Set(qRetryAt, strconv.FormatInt(t.Unix(), 10))
		}
	}
	return c.Redirect(http.StatusSeeOther, "/2fa?"+q.Encode())
}

// formValue is a field of a /2fa form, from the POST body only: never from
// the query string, which access logs and proxies record (a code there
// would be logged, and is taken as no code). limitBody has read the body
// (bounded) before the handlers run; on a route without it, the read is
// bounded here.
func formValue(c echo.Context, key string) string {
	r := c.Request()
	if r.PostForm == nil {
		if st := stateOf(c); st == nil || st.body == nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, apiBodyLimit)
		}
		_ = r.ParseMultipartForm(apiBodyLimit) // errors leave the fields empty, as FormValue did
	}
	return r.PostFormValue(key)
}

func (s *Server) stepUpPageStart(c echo.Context) error {
	lang := ui.PickLang(c.Request())
	resend := formValue(c, "resend") == "true"
	var v factor.ChallengeView
	var err error
	if id := formValue(c, "challenge_id"); resend && id != "" {
		// Another tab may have just confirmed this challenge, or the call
		// that replaced it: the session has passed, and a new call would
		// cost money for a code nobody needs (the factor answers with the
		// confirmed challenge then, within its code's lifetime, and places
		// none). (Asked only on a resend: a form without a challenge
		// starts one.)
		v, err = s.deps.Factor.StepUpResend(c.Request().Context(), s.credsOf(c), id, c.RealIP())
		if err == nil && v.State == string(challenge.StateVerified) {
			return s.confirmed(c, v.ID)
		}
	} else {
		v, err = s.deps.Factor.StepUpStart(c.Request().Context(), s.credsOf(c), resend, c.RealIP())
	}
	if err != nil {
		// A refused resend (cooldown, limit) keeps showing the call already
		// on its way, with its real code length and expiry: the session's
		// current one, which another tab's call may have put in place of
		// the one this form names.
		id := v.ID
		if id == "" {
			id = formValue(c, "challenge_id")
		}
		return s.refused(c, lang, id, err)
	}
	q := s.keptQuery(c)
	q.Set("challenge", v.ID)
	return c.Redirect(http.StatusSeeOther, "/2fa?"+q.Encode())
}

func (s *Server) stepUpPageVerify(c echo.Context) error {
	lang := ui.PickLang(c.Request())
	id := formValue(c, "challenge_id")
	if formValue(c, "resend") == "true" {
		return s.stepUpPageStart(c)
	}
	// The field goes as typed: the check reads "46 10" or the whole calling
	// number as the code, as code.js does (challenge.Service.VerifyAndPass).
	out, err := s.deps.Factor.StepUpVerify(c.Request().Context(), s.credsOf(c), id, formValue(c, "code"), factor.TokenOptions{})
	if out.Challenge.ID != "" {
		// The code was tried on the session's current challenge, which a
		// call asked for in another tab may have put in place of this
		// form's: the page follows it.
		id = out.Challenge.ID
	}
	if errors.Is(err, challenge.ErrAlreadyUsed) {
		// Confirmed in another tab (this session's challenge): the session
		// has passed, so this tab goes on as a right code would.
		return s.confirmed(c, id)
	}
	if err != nil {
		return s.refused(c, lang, id, err)
	}
	s.setTokenCookie(c, out.Token)
	return s.confirmed(c, id)
}

// confirmed sends a form post whose challenge id is verified on to
// return_to, or to the challenge's page.
func (s *Server) confirmed(c echo.Context, id string) error {
	if rt, ok := s.safeReturnTo(c.QueryParam("return_to")); ok {
		return c.Redirect(http.StatusSeeOther, rt)
	}
	// POST-redirect-GET here too: the challenge's page says it is
	// confirmed, so a reload sends the used code again nowhere (checked
	// again it said "the code has expired"), nor does the language switch.
	q := s.keptQuery(c)
	q.Set("challenge", id)
	return c.Redirect(http.StatusSeeOther, "/2fa?"+q.Encode())
}

// renderStepMessage shows the code step for v with msg (if any), e.g. a
// refusal carried over a POST-redirect-GET.
func (s *Server) renderStepMessage(c echo.Context, lang string, v *factor.ChallengeView, msg *ui.Message, status int) error {
	step := s.stepFor(c, lang, v)
	// A challenge whose code no longer works says so (a reload, a language
	// switch or a stale link must not offer its field again); a refusal
	// about something else (a limit, a ban) is still shown.
	if dead := deadMessage(v); dead != nil && (msg == nil || msg.ID == ui.MsgWrongCode || msg.ID == ui.MsgInvalidCode) {
		msg = dead
	} else if v != nil && v.State == "pending" && v.CallStatus == flashcall.ClassNotDelivered.String() &&
		(msg == nil || msg.ID == ui.MsgWrongCode || msg.ID == ui.MsgInvalidCode) {
		// The call never reached the phone: no code will come, so the page
		// offers a new call (allowed at once) instead of the field, as a
		// repeated start does (factor.ErrNotDelivered).
		msg = &ui.Message{ID: ui.MsgNotDelivered, Type: "error", Context: map[string]any{}}
	}
	if msg != nil {
		m := *msg
		if v != nil && step.AttemptsLeft >= 0 && (m.ID == ui.MsgWrongCode || m.ID == ui.MsgInvalidCode) {
			m.Context["attempts_left"] = step.AttemptsLeft
		}
		step.ApplyMessage(m)
	}
	return s.writeStep(c, lang, step, status)
}

// deadMessage is the message of a challenge whose code no longer works
// (nil while it works): locked, or expired (also replaced).
func deadMessage(v *factor.ChallengeView) *ui.Message {
	if v == nil || v.State == "" || v.State == "pending" {
		return nil
	}
	if v.State == "locked" {
		return &ui.Message{ID: ui.MsgLocked, Type: "error", Context: map[string]any{"attempts_left": 0}}
	}
	return &ui.Message{ID: ui.MsgExpired, Type: "error", Context: map[string]any{}}
}

func (s *Server) stepFor(c echo.Context, lang string, v *factor.ChallengeView) ui.CodeStep {
	step := ui.CodeStep{
		Lang:         lang,
		Flow:         "stepup",
		FormAction:   "/2fa/verify?" + s.keepQuery(c),
		AttemptsLeft: -1,
		State:        ui.StateCalling,
	}
	if v != nil {
		step.PhoneMasked, step.CodeLength, step.ChallengeID = v.PhoneMasked, v.CodeLength, v.ID
		step.ExpiresAt, step.ResendAfter, step.AttemptsLeft = v.ExpiresAt, v.ResendAfter, v.AttemptsLeft
		if v.State != "" && v.State != "pending" {
			step.AttemptsLeft = 0 // locked, expired, superseded: its code is dead
		}
		step.HiddenFields = map[string]string{"challenge_id": v.ID}
		// The session's current challenge (a call asked for in another tab
		// replaces this one): the page asks for it as it comes back into
		// view, and its status poll follows it; when it is another, the
		// page loads it, as the tab that asked shows it.
		step.FollowStatusURL = "/v1/challenges/" + url.PathEscape(v.ID) + "?follow=true"
		step.FollowURL = "/2fa?challenge="
		if q := s.keepQuery(c); q != "" {
			step.FollowURL = "/2fa?" + q + "&challenge="
		}
		if v.State == "pending" && v.CallStatus == flashcall.ClassPending.String() {
			// The page asks how the call went (code.js) and, if it did not
			// reach the phone, offers a new one without a reload.
			step.StatusURL = step.FollowStatusURL
		}
	}
	return step
}

// renderStep shows the code step for v, with err (if any) as its message.
func (s *Server) renderStep(c echo.Context, lang string, v *factor.ChallengeView, err error) error {
	step := s.stepFor(c, lang, v)
	status := http.StatusOK
	if err != nil {
		p := forFlow(classify(err, time.Now()), "stepup")
		if p.Code == "no_session" {
			// A cookie that is not (or no longer) a Kratos session: the page
			// a visitor without any cookie gets, not a JSON error.
			s.logProblem(c, err, p)
			return s.renderInfo(c, lang, http.StatusUnauthorized, ui.Text(lang, "stepup.signin"), s.loginURL(c), "page.to_login")
		}
		if errors.Is(err, kratos.ErrAAL2Required) {
			// Kratos holds the session until the account's own second
			// factor: the way on is its aal2 login, then back here (the
			// API's JSON answer would be a dead end on a page).
			s.logProblem(c, err, p)
			return s.renderInfo(c, lang, p.Status, ui.Text(lang, "stepup.aal2"), s.aal2LoginURL(c), "page.to_login")
		}
		if p.MsgID == 0 || p.Internal {
			return err
		}
		s.logProblem(c, err, p)
		countOutage(c, p) // written as its status too; said for the record
		step.ApplyMessage(ui.Message{ID: p.MsgID, Type: "error", Context: p.context()})
		status = p.Status
	}
	return s.writeStep(c, lang, step, status)
}

func (s *Server) writeStep(c echo.Context, lang string, step ui.CodeStep, status int) error {
	html, rerr := s.deps.UI.CodeStepHTML(step)
	if rerr != nil {
		return rerr
	}
	return s.renderPage(c, lang, status, ui.CodeStepTitle(lang, step.Flow), html)
}

// renderInfo shows text, and a button to link labelled with the catalogue
// text labelKey when link is set.
func (s *Server) renderInfo(c echo.Context, lang string, status int, text, link, labelKey string) error {
	title := ui.Text(lang, "stepup.title")
	body := `<section aria-labelledby="cp-title"><h1 id="cp-title">` + template.HTMLEscapeString(title) + `</h1><p>` +
		template.HTMLEscapeString(text) + `</p>`
	if link != "" {
		// The verb ("Sign in", "Open the app"), as a button: it is the one
		// way on.
		body += `<p><a class="cp-btn cp-btn-primary" href="` + template.HTMLEscapeString(link) + `">` +
			template.HTMLEscapeString(ui.Text(lang, labelKey)) + `</a></p>`
	}
	return s.renderPage(c, lang, status, title, template.HTML(body+`</section>`))
}

func (s *Server) renderPage(c echo.Context, lang string, status int, title string, body template.HTML) error {
	links := ui.LangLinks(c.Request(), lang)
	if c.Request().Method != http.MethodGet {
		// A page answering a form post switches language on its GET page
		// (the POST routes answer nothing to GET).
		q := s.keptQuery(c)
		if id := formValue(c, "challenge_id"); id != "" {
			q.Set("challenge", id)
		}
		links = ui.LangLinksFor(&url.URL{Path: "/2fa", RawQuery: q.Encode()}, lang)
	}
	var b bytes.Buffer
	if err := s.deps.UI.Page(&b, ui.PageData{Title: title, Lang: lang, Body: body, LangLinks: links}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", s.pageCSP())
	h.Set("X-Frame-Options", "DENY") // browsers without CSP frame-ancestors
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	return c.HTMLBlob(status, b.Bytes())
}

// pageCSP allows form posts (and the redirects that follow them, which
// browsers check against form-action too) to this service and to the
// allowed origins return_to may point at.
func (s *Server) pageCSP() string {
	var b strings.Builder
	b.WriteString("default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	for _, o := range s.cfg.AllowedOrigins {
		b.WriteByte(' ')
		b.WriteString(strings.TrimRight(o, "/"))
	}
	return b.String()
}

// keepQuery carries return_to and lang across the page's forms.
func (s *Server) keepQuery(c echo.Context) string { return s.keptQuery(c).Encode() }

func (s *Server) keptQuery(c echo.Context) url.Values {
	q := url.Values{}
	for _, k := range []string{"return_to", "lang"} {
		if v := c.QueryParam(k); v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// safeReturnTo accepts only URLs on an allowed origin (no open redirect).
// The redirect names the origin as compared: https://app.example:443/x is
// https://app.example/x.
func (s *Server) safeReturnTo(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	origin := canonOrigin(u)
	for _, o := range s.cfg.AllowedOrigins {
		if canonOriginString(o) == origin {
			u.Host = hostWithoutDefaultPort(u)
			return u.String(), true
		}
	}
	return "", false
}

// canonOrigin is u's scheme://host as browsers send it in Origin and as
// the configuration normalises serve.allowed_origins: lower case, without
// the scheme's default port (https :443, http :80) or an empty one. Else a
// return_to (or an allowed origin given to webhook.Config directly)
// written with its default port names no allowed origin.
//
// Only ASCII letters fold: strings.ToLower maps "İ" (U+0130) to "i", while
// browsers map it (IDNA) to "i" and a combining dot, another domain, so a
// return_to on https://bİng.example went to xn--bing-rwc.example although
// only https://bing.example was allowed. Allowed origins are ASCII, as
// browsers send Origin; a host that differs from one in anything but ASCII
// case is another origin.
func canonOrigin(u *url.URL) string {
	return asciiLower(u.Scheme + "://" + hostWithoutDefaultPort(u))
}

// asciiLower is s with ASCII letters in lower case and every other byte as
// it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// hostWithoutDefaultPort is u.Host as written, without the port when it
// is the scheme's default (read as a number, as the configuration and
// browsers do: :0443 is :443) or empty.
func hostWithoutDefaultPort(u *url.URL) string {
	scheme, p := strings.ToLower(u.Scheme), u.Port()
	n, _ := strconv.Atoi(p) // url.Parse lets only digits through
	if p == "" || scheme == "https" && n == 443 || scheme == "http" && n == 80 {
		return strings.TrimSuffix(strings.TrimSuffix(u.Host, p), ":")
	}
	return u.Host
}

// canonOriginString is canonOrigin of an origin as written (a trailing
// slash allowed); one that does not parse is compared lower-cased, as
// before.
func canonOriginString(o string) string {
	o = strings.TrimRight(o, "/")
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return asciiLower(o)
	}
	return canonOrigin(u)
}

// aal2LoginURL is Kratos's login for the account's own second factor
// (aal=aal2), returning to this step-up's page (its challenge, if any): a
// POST's own URL is no page to come back to.
func (s *Server) aal2LoginURL(c echo.Context) string {
	if s.cfg.LoginURL == "" {
		return ""
	}
	q := s.keptQuery(c)
	id := c.QueryParam("challenge")
	if id == "" && c.Request().Method == http.MethodPost {
		id = formValue(c, "challenge_id")
	}
	if id != "" {
		q.Set("challenge", id)
	}
	self := strings.TrimRight(s.cfg.BaseURL, "/") + "/2fa"
	if len(q) > 0 {
		self += "?" + q.Encode()
	}
	return s.cfg.LoginURL + "?aal=aal2&return_to=" + url.QueryEscape(self)
}

func (s *Server) loginURL(c echo.Context) string {
	if s.cfg.LoginURL == "" {
		return ""
	}
	// Back to the /2fa page with its return_to and language, not to the
	// request's own URL: a form's is a POST route (GET /2fa/verify is
	// 405), and a challenge it names is the ended session's, which the new
	// session cannot read.
	self := strings.TrimRight(s.cfg.BaseURL, "/") + "/2fa"
	if q := s.keepQuery(c); q != "" {
		self += "?" + q
	}
	return s.cfg.LoginURL + "?return_to=" + url.QueryEscape(self)
}
