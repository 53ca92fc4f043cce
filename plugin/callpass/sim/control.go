package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// The control API (JSON) for tests and the dev UI. It needs no provider
// token: it is a development tool and must never be exposed publicly.
//
//	GET    /sim/calls[?dn=]        {"calls":[CallRecord...]} newest first
//	GET    /sim/requests[?dn=]     {"dn":..,"requests":n} or {"total":n,"by_dn":{..}}
//	GET    /sim/scripts            {"default":..,"scripts":{dn:outcome}}
//	GET    /sim/scripts/{dn}       {"dn":..,"outcome":..,"scripted":bool}
//	PUT    /sim/scripts/{dn}       body {"outcome":"busy"}
//	DELETE /sim/scripts/{dn}
//	GET    /sim/default            {"outcome":..}
//	PUT    /sim/default            body {"outcome":"no_answer"}
//	POST   /sim/reset
//	GET    /sim/outcomes           {"outcomes":[..]}
//	GET    /sim/phone[?dn=]        the virtual phone page (HTML)
func (s *Simulator) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("/sim/calls", s.ctlCalls)
	m.HandleFunc("/sim/requests", s.ctlRequests)
	m.HandleFunc("/sim/scripts", s.ctlScripts)
	m.HandleFunc("/sim/scripts/{dn}", s.ctlScript)
	m.HandleFunc("/sim/default", s.ctlDefault)
	m.HandleFunc("/sim/reset", s.ctlReset)
	m.HandleFunc("/sim/outcomes", s.ctlOutcomes)
	m.HandleFunc("/sim/phone", s.ctlPhone)
	m.HandleFunc("/sim/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "phone", http.StatusFound)
	})
}

type ctlError struct {
	Error string `json:"error"`
}

func ctlFail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ctlError{Error: msg})
}

// methods refuses a request whose method is not one of allowed.
func methods(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for _, m := range allowed {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	ctlFail(w, http.StatusMethodNotAllowed, "method not allowed, use "+strings.Join(allowed, " or "))
	return false
}

// queryDN reads ?dn= in any spelling (+7..., 7..., 8...).
func queryDN(r *http.Request) string {
	dn := r.URL.Query().Get("dn")
	if dn == "" {
		return ""
	}
	key, _ := normalizeDN(dn)
	return key
}

func (s *Simulator) ctlCalls(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet) {
		return
	}
	dn := queryDN(r)
	if r.URL.Query().Get("dn") != "" && dn == "" {
		ctlFail(w, http.StatusBadRequest, "dn has no digits")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Calls []CallRecord `json:"calls"`
	}{s.Calls(dn)})
}

func (s *Simulator) ctlRequests(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet) {
		return
	}
	if dn := queryDN(r); dn != "" {
		writeJSON(w, http.StatusOK, struct {
			DN       string `json:"dn"`
			Requests int    `json:"requests"`
		}{dn, s.Requests(dn)})
		return
	}
	by, total := s.RequestCounts()
	writeJSON(w, http.StatusOK, struct {
		Total int            `json:"total"`
		ByDN  map[string]int `json:"by_dn"`
	}{total, by})
}

func (s *Simulator) ctlScripts(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet) {
		return
	}
	scripts, def := s.Scripts()
	writeJSON(w, http.StatusOK, struct {
		Default Outcome            `json:"default"`
		Scripts map[string]Outcome `json:"scripts"`
	}{def, scripts})
}

type outcomeBody struct {
	Outcome string `json:"outcome"`
}

// readOutcome decodes {"outcome":"..."} from a small JSON body.
func readOutcome(w http.ResponseWriter, r *http.Request) (Outcome, bool) {
	var b outcomeBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		ctlFail(w, http.StatusBadRequest, `body must be JSON {"outcome":"<name>"}: `+err.Error())
		return "", false
	}
	o, err := ParseOutcome(b.Outcome)
	if err != nil {
		ctlFail(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return o, true
}

func (s *Simulator) ctlScript(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	dn, ok := normalizeDN(r.PathValue("dn"))
	if !ok {
		ctlFail(w, http.StatusBadRequest, "number must be 11..15 digits starting with 7 (+7 and a leading 8 are accepted)")
		return
	}
	switch r.Method {
	case http.MethodPut:
		o, ok := readOutcome(w, r)
		if !ok {
			return
		}
		if err := s.setScript(dn, o); err != nil {
			ctlFail(w, http.StatusInsufficientStorage, err.Error())
			return
		}
		s.log.Info("callpass sim: script set", "dn", maskDN(dn), "outcome", o)
	case http.MethodDelete:
		_ = s.setScript(dn, "") // removing never fails
		s.log.Info("callpass sim: script removed", "dn", maskDN(dn))
	}
	o, scripted := s.scriptOf(dn)
	writeJSON(w, http.StatusOK, struct {
		DN       string  `json:"dn"`
		Outcome  Outcome `json:"outcome"`
		Scripted bool    `json:"scripted"`
	}{dn, o, scripted})
}

func (s *Simulator) ctlDefault(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet, http.MethodPut) {
		return
	}
	if r.Method == http.MethodPut {
		o, ok := readOutcome(w, r)
		if !ok {
			return
		}
		_ = s.SetDefault(o) // o comes from ParseOutcome
		s.log.Info("callpass sim: default outcome set", "outcome", o)
	}
	writeJSON(w, http.StatusOK, outcomeBody{Outcome: string(s.defaultOutcome())})
}

func (s *Simulator) ctlReset(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodPost) {
		return
	}
	s.Reset()
	s.log.Info("callpass sim: reset")
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"reset"})
}

func (s *Simulator) ctlOutcomes(w http.ResponseWriter, r *http.Request) {
	if !methods(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Outcomes []Outcome `json:"outcomes"`
	}{Outcomes()})
}
