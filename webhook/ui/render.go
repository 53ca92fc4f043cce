// Package ui is the end-user web UI of the flash-call second factor: the
// code-entry step ("we are calling you, enter the last N digits"), a page
// layout, the Russian/English catalogue and language picking. Templates, CSS
// and JS are embedded; nothing is loaded from another origin.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// DefaultAssetPrefix is where Assets() expects to be mounted.
const DefaultAssetPrefix = "/ui/assets/"

// Option configures a Renderer.
type Option func(*Renderer)

// WithAssetPrefix mounts the assets under another path prefix (must end in "/").
func WithAssetPrefix(p string) Option {
	return func(r *Renderer) {
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		r.prefix = p
	}
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Renderer renders the code step and pages. Safe for concurrent use.
type Renderer struct {
	tmpl   *template.Template
	prefix string
	urls   map[string]string // logical name ("ui.css") -> hashed URL
	files  map[string]asset  // hashed file name -> asset
}

// NewRenderer parses the embedded templates and fingerprints the assets.
func NewRenderer(opts ...Option) (*Renderer, error) {
	r := &Renderer{prefix: DefaultAssetPrefix, urls: map[string]string{}, files: map[string]asset{}}
	for _, o := range opts {
		o(r)
	}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("ui: read assets: %w", err)
	}
	for _, e := range entries {
		body, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("ui: read asset %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:12]
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + h + ext
		r.files[hashed] = asset{body: body, contentType: contentType(ext), etag: `"` + h + `"`}
		r.urls[e.Name()] = r.prefix + hashed
	}
	t, err := template.New("ui").Funcs(r.funcs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse templates: %w", err)
	}
	r.tmpl = t
	return r, nil
}

func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// AssetPrefix is the path prefix Assets() must be mounted on.
func (r *Renderer) AssetPrefix() string { return r.prefix }

// AssetURL returns the fingerprinted URL of an embedded asset ("ui.css").
func (r *Renderer) AssetURL(name string) string { return r.urls[name] }

// Assets serves the embedded CSS/JS under AssetPrefix with content-hashed
// names, so they can be cached for a year. Mount it on AssetPrefix().
func (r *Renderer) Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(req.URL.Path, r.prefix)
		a, found := r.files[name]
		if !ok || !found {
			http.NotFound(w, req)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if req.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		http.ServeContent(w, req, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// PageData is the layout around a body (a code step or any other content).
type PageData struct {
	Title     string
	Lang      string
	Body      template.HTML
	LangLinks []LangLink // language switcher; empty hides it
	Brand     string     // header text; empty: catalogue "page.brand"
	BrandURL  string
}

// Page renders a complete HTML document around d.Body.
func (r *Renderer) Page(w io.Writer, d PageData) error {
	if l, ok := supported(d.Lang); ok {
		d.Lang = l
	} else {
		d.Lang = DefaultLang
	}
	if d.Brand == "" {
		d.Brand = Text(d.Lang, "page.brand")
	}
	return r.exec(w, "page", d)
}

// CodeStep renders the code-entry component (a <section>, not a whole page).
func (r *Renderer) CodeStep(w io.Writer, s CodeStep) error {
	s.normalize()
	return r.exec(w, "codestep", r.codeView(s))
}

// CodeStepHTML is CodeStep into a string, for PageData.Body.
func (r *Renderer) CodeStepHTML(s CodeStep) (template.HTML, error) {
	var b bytes.Buffer
	if err := r.CodeStep(&b, s); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil // #nosec: produced by html/template
}

// exec renders into a buffer first so a template error never leaves half a page.
func (r *Renderer) exec(w io.Writer, name string, data any) error {
	var b bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

type hidden struct{ Name, Value string }

// codeView is the template's view of a CodeStep: every string already
// localized, every decision already made.
type codeView struct {
	CodeStep
	Title, Hint, Example, Label, Submit, NoJSNote string
	// AutoSendNote says, before the user types, that the code is sent with
	// its last digit (code.js shows it: WCAG 3.2.2 asks that a change on
	// input be announced first).
	AutoSendNote string
	// PauseNote: code.js's note while a code that may begin a national
	// number waits its pause.
	PauseNote string
	// HoldNote: code.js's note while typed digits that a phone number
	// begins with wait for "Confirm".
	HoldNote string
	// RestartDup: the restart link would go where another link on the
	// page already goes, so only its note is shown.
	RestartDup               bool
	Lead                     template.HTML // escaped text, the number in a span
	MessageText, MessageType string
	// A message that names a wait ("try again in 2 min") counts it down:
	// MessageWaitIn seconds from rendering, MessageWaitTemplate with {t}
	// for the remaining time, MessageNowText once it is over.
	MessageWaitIn                                  int
	MessageWaitTemplate, MessageNowText            string
	DurationUnits                                  string // "h|min|s" for code.js
	ShowCode, ShowResend, RetryKind, ResendPrimary bool
	ResendLabel, ResendWaitLabel, ResendBaseLabel  string
	ResendIn                                       int // seconds until the button is useful; 0: now
	WaitUntilText                                  string
	ExpiresIn                                      int
	ExpiresLabel, ExpiresTemplate, ExpiredLabel    string
	CheckingLabel                                  string
	Pattern, PatternTitle                          string
	MaxLength                                      int
	Hidden                                         []hidden
	StartOverLabel, SettingsLabel                  string
	ChangeNumberLabel, RestartLabel, RestartNote   string
	ScriptURL                                      string
	Invalid                                        bool
	// Focus: the code field (autofocus in the template) when shown, else the
	// resend button when it can be pressed, else the message (or the title):
	// never a disabled control, which focus skips or announces as unusable.
	CodeDescribedBy                   string
	FocusResend, FocusMsg, FocusTitle bool
	// PollStatus: code.js asks StatusURL about the call (see CodeStep);
	// NotDeliveredText is what the page says if the call did not arrive.
	PollStatus       bool
	NotDeliveredText string
}

func (r *Renderer) codeView(s CodeStep) codeView {
	l := s.Lang
	args := map[string]any{"code_length": s.CodeLength, "example": exampleCode(s.CodeLength)}
	if s.PhoneMasked != "" {
		args["phone_masked"] = s.PhoneMasked
	}
	v := codeView{
		CodeStep:        s,
		Title:           CodeStepTitle(l, s.Flow),
		Hint:            Text(l, "code.hint"),
		Example:         Format(l, "code.example", args),
		Label:           Format(l, "code.label", args),
		Submit:          Text(l, "code.submit"),
		NoJSNote:        Text(l, "code.no_js_autosend"),
		AutoSendNote:    Text(l, "code.js_autosend"),
		PauseNote:       Text(l, "code.js_pause"),
		HoldNote:        Text(l, "code.js_hold"),
		ShowCode:        s.showCode(),
		ShowResend:      s.showResend(),
		RetryKind:       s.retryKind(),
		Pattern:         codePattern(s.CodeLength),
		PatternTitle:    Format(l, "code.pattern_title", args),
		MaxLength:       codeMaxLength,
		DurationUnits:   Text(l, "unit.h") + "|" + Text(l, "unit.min") + "|" + Text(l, "unit.s"),
		CheckingLabel:   Text(l, "code.checking"),
		ExpiredLabel:    Text(l, "code.expired_note"),
		ExpiresTemplate: Text(l, "code.expires_in"),
		StartOverLabel:  Text(l, "code.start_over"),
		SettingsLabel:   Text(l, "code.settings"),
		ScriptURL:       r.urls["code.js"],
	}
	v.ResendPrimary = !v.ShowCode
	// "We are calling …, enter the last N digits" only while a call's code
	// can be typed; the other states say what happened and what to do. A
	// refused new call keeps the earlier one's code: say that it still works.
	if v.ShowCode {
		key := "code.lead"
		switch s.State {
		case StateRateLimited, StateProviderUnavailable, StateUnavailable:
			key = "code.still_valid"
		case StateCooldown:
			if s.Message != nil && s.Message.Context["limit"] == "resends" {
				key = "code.still_valid" // no more calls for this code: not "we are calling"
			}
		}
		v.Lead = phoneText(l, key, args, s.PhoneMasked)
	}
	if s.ChangeNumberURL != "" {
		v.ChangeNumberLabel = Text(l, "code.change_number")
		if s.State == StateNoPhone {
			v.ChangeNumberLabel = Text(l, "code.enter_number") // there is none to change
		}
	}
	if m := s.Message; m != nil {
		v.MessageType = m.Type
		if v.MessageType != "error" || m.ID == MsgCooldown {
			// A wait for the next call is no mistake of the user's.
			v.MessageType = "info"
		}
		ctx := map[string]any{}
		for k, val := range m.Context {
			ctx[k] = val
		}
		for k, val := range args {
			if _, ok := ctx[k]; !ok {
				ctx[k] = val
			}
		}
		if _, ok := ctx["flow"]; !ok && s.Flow != "" {
			ctx["flow"] = s.Flow // picks e.g. the login wording of "no phone"
		}
		v.MessageText = Localize(l, m.ID, ctx)
		if v.MessageText == "" {
			v.MessageText = m.Text
		}
		if waitMessage(m.ID) {
			v.wordWait(l, m.ID, ctx, s.waitUntil(), s.Now)
		}
		// The lead already says "we are calling …": do not repeat it,
		// unless the message says more (whose number it is).
		if m.ID == MsgCalling && ctx["reason"] == nil {
			v.MessageText = ""
		}
		v.Invalid = m.Type == "error" && (s.State == StateWrongCode || s.State == StateInvalidCode)
	} else if id := msgByState[s.State]; id != 0 && !v.ShowCode {
		// A state without its message would leave the page without any text.
		v.MessageText, v.MessageType = Localize(l, id, args), "error"
	}
	for k, val := range s.HiddenFields {
		v.Hidden = append(v.Hidden, hidden{k, val})
	}
	sort.Slice(v.Hidden, func(i, j int) bool { return v.Hidden[i].Name < v.Hidden[j].Name })

	base, wait := "code.resend", "code.resend_in"
	if v.RetryKind && !v.ShowCode {
		// "Try again" under a field that still takes a code would read as
		// "check my code again"; the button asks for a new call.
		base, wait = "code.retry", "code.retry_in"
	}
	v.ResendBaseLabel = Text(l, base)
	v.ResendWaitLabel = Text(l, wait)
	v.ResendLabel = v.ResendBaseLabel
	if until := s.waitUntil(); until.After(s.Now) {
		v.ResendIn = int(math.Ceil(until.Sub(s.Now).Seconds()))
		v.ResendLabel = strings.ReplaceAll(v.ResendWaitLabel, "{t}", clock(v.ResendIn))
		// Without JavaScript nothing counts down: say how long from now. No
		// clock time: the server does not know the user's zone, and a UTC
		// time only puzzles.
		v.WaitUntilText = Format(l, "code.wait_until", map[string]any{"wait": FormatDuration(l, until.Sub(s.Now))})
	}
	if s.waitOutlastsPage() && s.RestartURL != "" {
		v.RestartLabel, v.RestartNote = Text(l, "code.restart"), Text(l, "code.restart_note")
		// One link per place: the note still says to start over, by the
		// link that already goes there.
		v.RestartDup = s.RestartURL == s.StartOverURL || s.RestartURL == s.ChangeNumberURL
	}
	v.CodeDescribedBy = "cp-msg cp-example"
	if v.Lead != "" {
		// The message first: after a wrong code it is what the user needs.
		v.CodeDescribedBy = "cp-msg cp-lead cp-example"
	}
	switch {
	case v.ShowCode:
	case v.ShowResend && v.ResendIn == 0:
		v.FocusResend = true
	case v.MessageText != "":
		v.FocusMsg = true
	default:
		v.FocusTitle = true
	}
	if s.ExpiresAt.After(s.Now) && v.ShowCode {
		v.ExpiresIn = int(math.Ceil(s.ExpiresAt.Sub(s.Now).Seconds()))
		v.ExpiresLabel = strings.ReplaceAll(v.ExpiresTemplate, "{t}", clock(v.ExpiresIn))
	}
	// Only while the code can be typed: once it cannot, the page already
	// says what to do.
	if s.StatusURL != "" && v.ExpiresIn > 0 {
		v.PollStatus = true
		v.NotDeliveredText = Localize(l, MsgNotDelivered, map[string]any{"flow": s.Flow})
	}
	return v
}

// CodeStepTitle is the code step's heading for a flow: confirming a phone
// number (registration, settings) or confirming it is you (login, step-up).
func CodeStepTitle(lang, flow string) string {
	if flow == "registration" || flow == "settings" {
		return Text(lang, "code.title.phone")
	}
	return Text(lang, "code.title")
}

// phoneText renders key with the masked number ("+7 900 ***-**-67") kept on
// one line and read out as "the number ending in 67", not as asterisks.
func phoneText(l, key string, args map[string]any, phone string) template.HTML {
	if phone == "" {
		return template.HTML(template.HTMLEscapeString(Format(l, key, args))) // #nosec: escaped
	}
	a := make(map[string]any, len(args))
	for k, val := range args {
		a[k] = val
	}
	a["phone_masked"] = "\x00"
	before, after, _ := strings.Cut(Format(l, key, a), "\x00")
	var b strings.Builder
	b.WriteString(template.HTMLEscapeString(before))
	b.WriteString(`<span class="cp-phone">`)
	last := lastDigits(phone, 2)
	if last == "" {
		b.WriteString(template.HTMLEscapeString(phone))
	} else {
		b.WriteString(`<span aria-hidden="true">` + template.HTMLEscapeString(phone) + `</span><span class="cp-sr">` +
			template.HTMLEscapeString(Format(l, "code.phone_ending", map[string]any{"last": last})) + `</span>`)
	}
	b.WriteString(`</span>`)
	b.WriteString(template.HTMLEscapeString(after))
	return template.HTML(b.String()) // #nosec: every part escaped above
}

// lastDigits is the run of up to n digits ending the masked number ("67");
// "" when it does not end in a digit.
func lastDigits(s string, n int) string {
	end := len(s)
	start := end
	for start > 0 && end-start < n && s[start-1] >= '0' && s[start-1] <= '9' {
		start--
	}
	return s[start:end]
}

// codeMaxLength bounds the code field. Far above the code length on purpose:
// without JavaScript a pasted caller number ("+7 (495) 123-46-10") must fit
// whole, so the server can keep its last N digits (the same rule as code.js).
const codeMaxLength = 32

// codeSeparators are what a phone number is written with besides digits:
// the spaces the server reads as such (Go's unicode.IsSpace, listed: the
// pattern's \s is JavaScript's, which also takes U+FEFF, a zero-width
// no-break space the server counts as a wrong code, and not U+0085), "+",
// "-", "(", ")", "." and the fullwidth forms of the four an IME types,
// which the server folds (challenge's foldDigits).
const codeSeparators = "[\\t\\n\\v\\f\\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000" +
	"\\+\\-\\(\\)\\.\uff0b\uff0d\uff08\uff09]*"

// codeDigits are the digits the server reads as such: ASCII, fullwidth (an
// IME's), Arabic-Indic and Persian. Without JavaScript nothing folds them
// before the post, and a pattern of ASCII digits refused a code the server
// takes, with the browser's bare "match the requested format".
const codeDigits = "[0-9\uff10-\uff19\u0660-\u0669\u06f0-\u06f9]"

// codePattern accepts at least n digits, optionally written as a phone
// number (spaces, +, -, parentheses, dots). Every punctuator is escaped:
// browsers compile pattern with the v flag, where a bare "-" or "(" inside
// a class is a syntax error (and an invalid pattern is ignored).
func codePattern(n int) string {
	return fmt.Sprintf("%s(?:%s%s){%d,}", codeSeparators, codeDigits, codeSeparators, n)
}

// waitMessage: messages worded from retry_after ("try again in 25 s").
func waitMessage(id int) bool {
	return id == MsgRateLimited || id == MsgBlocked || id == MsgCooldown
}

// wordWait words a waiting message from until (retry_at, or resend_after for
// a cooldown) relative to now, the time of rendering, rather than from the
// retry_after seconds saved in the flow when the refusal happened: a page
// reloaded minutes later must not still say "in 25 s". Once until has
// passed, it says the action is available now. A message without any time
// keeps the retry_after it came with.
func (v *codeView) wordWait(l string, id int, ctx map[string]any, until, now time.Time) {
	if until.IsZero() {
		return
	}
	nowKey := "msg." + strconv.Itoa(id) + ".now"
	if !until.After(now) {
		v.MessageText, v.MessageType = Format(l, nowKey, ctx), "info"
		return
	}
	left := int(math.Ceil(until.Sub(now).Seconds()))
	ctx["retry_after"] = left
	v.MessageText = Localize(l, id, ctx)
	ctx["retry_after"] = "{t}" // not a number: expand leaves it for code.js
	v.MessageWaitTemplate = Localize(l, id, ctx)
	v.MessageNowText = Format(l, nowKey, ctx)
	v.MessageWaitIn = left
}

// clock renders seconds as m:ss or h:mm:ss (code.js uses the same format).
func clock(sec int) string {
	if sec < 0 {
		sec = 0
	}
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec%3600/60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

func (r *Renderer) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return r.urls[name] },
		"t":     Text,
	}
}
