package webhook

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// refusalCacheSize bounds the rendered refusals kept. A key changes at most
// once a second per kind of refusal (retry_at), so a few hundred cover a
// flood; least recently used ones go first.
const refusalCacheSize = 512

// refusals remembers rendered refusal interrupts. Under a flood of starts
// or guesses against a blocked identity the same few answers repeat (the
// ban or the limit with the same retry time within a second, a wrong code
// with the same attempts left); rendering each once keeps the reject path
// cheap. The key is every input of the rendering (language, message id,
// the retry: seconds, time, limit, and the attempts left and reason), so a
// hit is byte for byte what rendering would produce
// (TestRefusalCacheMatchesRendering). Nothing secret is in a refusal:
// message id, language, the times and the count shown to the user.
type refusals struct {
	c    *lru.Cache[refusalCacheKey, []byte]
	maps sync.Pool // of map[string]any, for render
	bufs sync.Pool // of *[]byte, for the refusals written but not cached
}

// refusalCacheKey is a refusal with a retry time, as rendered.
type refusalCacheKey struct {
	lang     string
	id       int
	retry    retryKey
	attempts attemptsKey
}

// maxCachedAttempts bounds the attempts left a cached wrong-code refusal
// shows. max_attempts has no upper bound; beyond a few dozen (far more
// than anyone configures) the refusals are rendered rather than crowd out
// the ones with retry times.
const maxCachedAttempts = 32

func newRefusals() *refusals {
	c, _ := lru.New[refusalCacheKey, []byte](refusalCacheSize) // err only for a size ≤ 0
	r := &refusals{c: c}
	r.maps.New = func() any { return make(map[string]any, 4) }
	r.bufs.New = func() any { return new([]byte) }
	return r
}

// write answers Kratos with the refusal message of p (interrupt's answer).
// A keyed refusal that is not cached (a wrong code with more attempts left
// than are cached: a flood of guesses at one challenge renders on every
// request) is rendered into a lent buffer: the answer's writer copies it.
func (r *refusals) write(c echo.Context, lang string, p problem) error {
	if p.keyed() && !p.cached() {
		bp := r.bufs.Get().(*[]byte)
		b, err := r.renderTo((*bp)[:0], lang, p)
		if err == nil {
			err = c.JSONBlob(http.StatusBadRequest, b)
		}
		*bp = b[:0]
		r.bufs.Put(bp)
		return err
	}
	b, err := r.body(lang, p)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusBadRequest, b)
}

// cached reports whether the keyed refusal p is kept rendered: a wrong
// code with more than maxCachedAttempts left is not.
func (p problem) cached() bool { return p.Retry.after != 0 || p.Attempts.left <= maxCachedAttempts }

// body returns the interrupt JSON for the refusal p. Refusals whose context
// is a key (a retry time: ban, limit, cooldown; attempts left: wrong code,
// locked) are rendered once per distinct input; the rest, and wrong codes
// with more than maxCachedAttempts left, are rendered every time.
func (r *refusals) body(lang string, p problem) ([]byte, error) {
	if !p.keyed() {
		return renderInterrupt(lang, p.MsgID, "error", p.Context)
	}
	if !p.cached() {
		return r.render(lang, p)
	}
	key := refusalCacheKey{lang: lang, id: p.MsgID, retry: p.Retry, attempts: p.Attempts}
	if b, hit := r.c.Get(key); hit {
		return b, nil
	}
	b, err := r.render(lang, p)
	if err != nil {
		return nil, err
	}
	r.c.Add(key, b)
	return b, nil
}

// render renders the keyed refusal p with its context in a lent map: the
// text and the bytes keep nothing of it, and a flood of guesses at one
// challenge (a new attempts left each time) renders on every request.
func (r *refusals) render(lang string, p problem) ([]byte, error) {
	return r.renderTo(make([]byte, 0, 256), lang, p)
}

// renderTo is render appending to b.
func (r *refusals) renderTo(b []byte, lang string, p problem) ([]byte, error) {
	m := r.maps.Get().(map[string]any)
	p.fillContext(m)
	b, err := appendRenderedInterrupt(b, lang, p.MsgID, "error", m)
	clear(m)
	r.maps.Put(m)
	return b, err
}

// renderInterrupt is the interrupt body exactly as interrupt writes it
// through jsonSerializer (struct field order, context keys sorted, HTML
// escaped, a trailing newline), without reflection when the context holds
// only ints, strings and bools (TestRenderInterruptMatchesSerializer).
func renderInterrupt(lang string, id int, typ string, ctx map[string]any) ([]byte, error) {
	return appendRenderedInterrupt(make([]byte, 0, 256), lang, id, typ, ctx)
}

// appendRenderedInterrupt is renderInterrupt appending to dst.
func appendRenderedInterrupt(dst []byte, lang string, id int, typ string, ctx map[string]any) ([]byte, error) {
	text := ui.Localize(lang, id, ctx)
	n := len(dst)
	if b, ok := appendInterrupt(dst, id, text, typ, ctx); ok {
		return b, nil
	}
	b, err := segjson.Append(dst[:n], kratosMessages{Messages: []kratosInstance{{
		InstancePtr: "#/",
		Messages:    []kratosMessage{{ID: id, Text: text, Type: typ, Context: ctx}},
	}}}, segjson.EscapeHTML|segjson.SortMapKeys)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// appendInterrupt writes kratosMessages with one message; false when a
// context value is not an int, a string or a bool.
func appendInterrupt(b []byte, id int, text, typ string, ctx map[string]any) ([]byte, bool) {
	const flags = segjson.EscapeHTML
	b = append(b, `{"messages":[{"instance_ptr":"#/","messages":[{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"text":`...)
	b = segjson.AppendEscape(b, text, flags)
	b = append(b, `,"type":`...)
	b = segjson.AppendEscape(b, typ, flags)
	if len(ctx) > 0 { // omitempty
		if len(ctx) > 8 {
			return nil, false
		}
		var kb [8]string
		keys := kb[:0]
		for k := range ctx {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `,"context":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = segjson.AppendEscape(b, k, flags)
			b = append(b, ':')
			switch v := ctx[k].(type) {
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			case string:
				b = segjson.AppendEscape(b, v, flags)
			case bool:
				b = strconv.AppendBool(b, v)
			default:
				return nil, false
			}
		}
		b = append(b, '}')
	}
	return append(b, "}]}]}\n"...), true
}
