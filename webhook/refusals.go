package webhook

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// ban or the limit with the same retry time within a second); rendering
// each once keeps the reject path cheap. A key holds every input of the
// rendering, so a hit is byte for byte what rendering would produce
// (TestRefusalCacheMatchesRendering). Nothing secret is in a refusal:
// message id, language and the counters and times shown to the user.
type refusals struct {
	c *lru.Cache[string, []byte]
}

func newRefusals() *refusals {
	c, _ := lru.New[string, []byte](refusalCacheSize) // err only for a size ≤ 0
	return &refusals{c: c}
}

// write answers Kratos with one refusal message (interrupt's answer).
func (r *refusals) write(c echo.Context, lang string, id int, ctx map[string]any) error {
	b, err := r.body(lang, id, "error", ctx)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusBadRequest, b)
}

// body returns the interrupt JSON for one refusal message. Refusals that
// carry a retry time (ban, limit, cooldown) are rendered once per distinct
// input; the rest (a wrong code's attempts left, whose domain is the
// configured attempts and may be huge) are rendered every time, which is
// cheap, rather than churn the cache.
func (r *refusals) body(lang string, id int, typ string, ctx map[string]any) ([]byte, error) {
	_, retry := ctx["retry_at"]
	if !retry {
		return renderInterrupt(lang, id, typ, ctx)
	}
	key, ok := refusalKey(lang, id, typ, ctx)
	if ok {
		if b, hit := r.c.Get(key); hit {
			return b, nil
		}
	}
	b, err := renderInterrupt(lang, id, typ, ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		r.c.Add(key, b)
	}
	return b, nil
}

// refusalKey spells lang, id, typ and ctx as one string; every part is
// length-prefixed, so no two inputs share a key.
func refusalKey(lang string, id int, typ string, ctx map[string]any) (string, bool) {
	if len(ctx) > 8 {
		return "", false
	}
	var kb [8]string
	keys := kb[:0]
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(64)
	part := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	part(lang)
	part(strconv.Itoa(id))
	part(typ)
	for _, k := range keys {
		part(k)
		switch v := ctx[k].(type) {
		case int:
			b.WriteByte('i')
			part(strconv.Itoa(v))
		case string:
			b.WriteByte('s')
			part(v)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// renderInterrupt is the interrupt body exactly as interrupt writes it
// through jsonSerializer (struct field order, context keys sorted, HTML
// escaped, a trailing newline), without reflection when the context holds
// only ints, strings and bools (TestRenderInterruptMatchesSerializer).
func renderInterrupt(lang string, id int, typ string, ctx map[string]any) ([]byte, error) {
	text := ui.Localize(lang, id, ctx)
	if b, ok := appendInterrupt(make([]byte, 0, 256), id, text, typ, ctx); ok {
		return b, nil
	}
	b, err := segjson.Append(nil, kratosMessages{Messages: []kratosInstance{{
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
