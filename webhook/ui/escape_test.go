package ui

import (
	"strings"
	"testing"
	"time"
)

// TestLeadEscapesMaskedPhone: the lead paragraph is built as HTML by hand
// (the number in its own spans); a masked number from a message context is
// text, however it is written, whether it ends in digits (read out as "the
// number ending in …") or not.
func TestLeadEscapesMaskedPhone(t *testing.T) {
	tests := []struct {
		name, phone string
		want        []string // escaped forms that must be there
		raw         []string // markup that must not
	}{
		{"ends in digits", `<img src=x onerror=alert(1)>67`,
			[]string{`<span aria-hidden="true">&lt;img src=x onerror=alert(1)&gt;67</span>`, "ending in 67"},
			[]string{"<img", "<img src=x"}},
		{"no digits", `<b>x</b>`,
			[]string{`<span class="cp-phone">&lt;b&gt;x&lt;/b&gt;</span>`},
			[]string{"<b>", "</b>"}},
		{"quotes and ampersand", `"a'&b"67`,
			[]string{`&#34;a&#39;&amp;b&#34;67`},
			[]string{`"a'&b"`}},
	}
	for _, tt := range tests {
		for _, state := range []string{StateCalling, StateRateLimited} { // code.lead, code.still_valid
			t.Run(tt.name+"/"+state, func(t *testing.T) {
				for _, via := range []string{"field", "context"} {
					s := CodeStep{Lang: "en", CodeLength: 4, State: state, ExpiresAt: now.Add(time.Minute), AttemptsLeft: 3,
						FormAction: "/submit", Now: now}
					if via == "field" {
						s.PhoneMasked = tt.phone
					} else {
						s.ApplyMessage(Message{ID: MsgCalling, Type: "info", Context: map[string]any{"phone_masked": tt.phone, "code_length": 4.0}})
						s.State = state
					}
					out := render(t, s)
					lead := between(out, `<p id="cp-lead" class="cp-lead">`, `</p>`)
					if lead == "" {
						t.Fatalf("%s: no lead paragraph:\n%s", via, out)
					}
					for _, w := range tt.want {
						if !strings.Contains(lead, w) {
							t.Errorf("%s: lead lacks %q:\n%s", via, w, lead)
						}
					}
					for _, r := range tt.raw {
						if strings.Contains(out, r) {
							t.Errorf("%s: page holds raw %q:\n%s", via, r, out)
						}
					}
				}
			})
		}
	}
}

// between is the text of s between the first open and the next close.
func between(s, open, close string) string {
	_, after, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(after, close)
	return in
}

// TestPhoneTextEscapesEverything: phoneText returns trusted HTML, so every
// part of it is escaped: the text around the number, the text without a
// number, the number in either form. The catalogue has no markup today;
// Text falls back to the key itself, which lets the test give it some.
func TestPhoneTextEscapesEverything(t *testing.T) {
	tests := []struct {
		name, key, phone string
		args             map[string]any
		want             string
	}{
		{"no phone", `<i>{x}</i> & {y}`, "", map[string]any{"x": "<b>", "y": `"q'`},
			`&lt;i&gt;&lt;b&gt;&lt;/i&gt; &amp; &#34;q&#39;`},
		{"around the number", `<i>{phone_masked}</i> & "{x}"`, "+7 900 ***-**-67", map[string]any{"x": "<b>"},
			`&lt;i&gt;<span class="cp-phone"><span aria-hidden="true">+7 900 ***-**-67</span><span class="cp-sr">the number ending in 67</span></span>&lt;/i&gt; &amp; &#34;&lt;b&gt;&#34;`},
		{"number with digits", `{phone_masked}`, `<img src=x>67`, nil,
			`<span class="cp-phone"><span aria-hidden="true">&lt;img src=x&gt;67</span><span class="cp-sr">the number ending in 67</span></span>`},
		{"number without digits", `{phone_masked}`, `<b>x</b>`, nil,
			`<span class="cp-phone">&lt;b&gt;x&lt;/b&gt;</span>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(phoneText("en", tt.key, tt.args, tt.phone)); got != tt.want {
				t.Errorf("phoneText(%q, %v, %q)\n got %s\nwant %s", tt.key, tt.args, tt.phone, got, tt.want)
			}
		})
	}
}

// TestCodeLengthBounds: a code length the field cannot sensibly take (from
// a message context, so from outside) falls back to the default.
func TestCodeLengthBounds(t *testing.T) {
	tests := []struct {
		ctx  any
		want string
	}{
		{12.0, "12"},
		{13.0, "4"},
		{100.0, "4"},
		{6.0, "6"},
	}
	for _, tt := range tests {
		s := CodeStep{Lang: "en", FormAction: "/submit", Now: now}
		s.ApplyMessage(Message{ID: MsgCalling, Type: "info", Context: map[string]any{"code_length": tt.ctx}})
		out := render(t, s)
		for _, attr := range []string{`data-code-length="`, `minlength="`, `size="`} {
			if !strings.Contains(out, attr+tt.want+`"`) {
				t.Errorf("code_length %v: want %s%s\" in:\n%s", tt.ctx, attr, tt.want, out)
			}
		}
	}
}

// TestMessageTextEscapedOnce: a message text Kratos sent (an id the
// catalogue does not know) is escaped once, by html/template's contextual
// escaper: not twice, and not by text/template's html (which a "| html" in
// the template would put in its place, and which leaves "+" unescaped where
// html/template writes &#43;).
func TestMessageTextEscapedOnce(t *testing.T) {
	s := CodeStep{Lang: "en", FormAction: "/submit", Now: now}
	s.ApplyMessage(Message{ID: 4099999, Type: "error", Text: `a & b <c> +7 'q'`})
	out := render(t, s)
	if strings.Count(out, `>a &amp; b &lt;c&gt; &#43;7 &#39;q&#39;</div>`) != 1 {
		t.Errorf("message text not escaped exactly once by the contextual escaper:\n%s", out)
	}
	if strings.Contains(out, "&amp;amp;") || strings.Contains(out, "&amp;lt;") || strings.Contains(out, "<c>") {
		t.Errorf("message text escaped twice or not at all:\n%s", out)
	}
}
