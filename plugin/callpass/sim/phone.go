package sim

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed phone.html
var phoneHTML string

var phoneTmpl = template.Must(template.New("phone").Parse(phoneHTML))

// phoneView is the data the phone page renders on the server; the page's
// script re-renders the same markup from /sim/calls every second.
type phoneView struct {
	Filter    string
	PinLength int
	Phones    []phoneGroup
}

type phoneGroup struct {
	DN      string
	Display template.HTML // digits, spaces, '+' and '-' only (see safeNumber)
	Calls   []phoneCall
}

type phoneCall struct {
	CallID    string
	Parts     []numberPart
	Caller    string
	Time      string
	Label     string
	Class     string
	Delivered bool
}

type numberPart struct {
	Text template.HTML // digits, spaces and '-' only
	Hi   bool
}

// formatNumber shows a number the way a Russian phone does:
// 74951234610 -> "+7 495 123-46-10".
func formatNumber(d string) string {
	if len(d) != 11 || d[0] != '7' {
		return "+" + d
	}
	return "+7 " + d[1:4] + " " + d[4:7] + "-" + d[7:9] + "-" + d[9:11]
}

// safeNumber marks a formatted number as HTML so '+' is not written as
// "&#43;" (tests and people grep the page for "+7 ..."). It is safe because
// numbers here are digits only (validated or normalised) and formatNumber
// adds only '+', ' ' and '-'; anything else is escaped.
func safeNumber(s string) template.HTML {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '+' || r == ' ' || r == '-') {
			return template.HTML(template.HTMLEscapeString(s))
		}
	}
	return template.HTML(s)
}

// highlight splits the formatted number so its last n digits can be marked.
func highlight(d string, n int) []numberPart {
	f := formatNumber(d)
	var parts []numberPart
	idx := 0
	for _, ch := range f {
		hi := false
		if ch >= '0' && ch <= '9' {
			hi = idx >= len(d)-n
			idx++
		} else if len(parts) > 0 {
			hi = parts[len(parts)-1].Hi // separators inside the code stay marked
		}
		if len(parts) > 0 && parts[len(parts)-1].Hi == hi {
			parts[len(parts)-1].Text += safeNumber(string(ch))
			continue
		}
		parts = append(parts, numberPart{Text: safeNumber(string(ch)), Hi: hi})
	}
	return parts
}

// statusLabel says what a phone user would have seen.
func statusLabel(status string) (label, class string, delivered bool) {
	switch status {
	case statusPending:
		return "ringing…", "ringing", true
	case "NO_ANSWER":
		return "missed call", "missed", true
	case "NORMAL_CLEARING":
		return "answered", "answered", true
	case "USER_BUSY":
		return "busy (declined)", "busy", true
	case resultSuccess:
		return "call completed", "missed", true
	case "SUBSCRIBER_ABSENT":
		return "unreachable — did not ring", "failed", false
	case "CALL_REJECTED":
		// Q.850 cause 21: the user declined the call, so it rang and
		// showed the number.
		return "declined", "busy", true
	}
	return strings.ToLower(status), "failed", false
}

func (s *Simulator) phoneView(filter string) phoneView {
	v := phoneView{Filter: filter, PinLength: s.cfg.PinLength}
	index := map[string]int{}
	for _, c := range s.Calls(filter) {
		i, ok := index[c.DN]
		if !ok {
			i = len(v.Phones)
			index[c.DN] = i
			v.Phones = append(v.Phones, phoneGroup{DN: c.DN, Display: safeNumber(formatNumber(c.DN))})
		}
		label, class, delivered := statusLabel(c.Status)
		v.Phones[i].Calls = append(v.Phones[i].Calls, phoneCall{
			CallID:    c.CallID,
			Parts:     highlight(c.Caller, s.cfg.PinLength),
			Caller:    formatNumber(c.Caller),
			Time:      c.CreatedAt.Local().Format(time.TimeOnly),
			Label:     label,
			Class:     class,
			Delivered: delivered,
		})
	}
	if filter != "" && len(v.Phones) == 0 {
		v.Phones = append(v.Phones, phoneGroup{DN: filter, Display: safeNumber(formatNumber(filter))})
	}
	return v
}

func (s *Simulator) ctlPhone(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet) {
		return
	}
	var buf bytes.Buffer
	if err := phoneTmpl.Execute(&buf, s.phoneView(queryDN(r))); err != nil {
		s.log.Error("callpass sim: phone page", "err", err)
		ctlFail(w, http.StatusInternalServerError, "phone page failed")
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	writeRaw(w, http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
