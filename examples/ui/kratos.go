package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The subset of the Kratos v1.3.1 flow JSON this UI reads. Field names are
// Kratos's (ui/container, ui/node, text.Message).

type uiText struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

type nodeAttrs struct {
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Value        any     `json:"value"`
	Required     bool    `json:"required"`
	Disabled     bool    `json:"disabled"`
	Autocomplete string  `json:"autocomplete"`
	Pattern      string  `json:"pattern"`
	MaxLength    int     `json:"maxlength"`
	NodeType     string  `json:"node_type"`
	Src          string  `json:"src"`
	ID           string  `json:"id"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	Href         string  `json:"href"`
	Title        *uiText `json:"title"`
	Text         *uiText `json:"text"`
}

type uiNode struct {
	Type       string    `json:"type"`
	Group      string    `json:"group"`
	Attributes nodeAttrs `json:"attributes"`
	Messages   []uiText  `json:"messages"`
	Meta       struct {
		Label *uiText `json:"label"`
	} `json:"meta"`
}

type uiContainer struct {
	Action   string   `json:"action"`
	Method   string   `json:"method"`
	Nodes    []uiNode `json:"nodes"`
	Messages []uiText `json:"messages"`
}

type kratosFlow struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	ExpiresAt time.Time   `json:"expires_at"`
	ReturnTo  string      `json:"return_to"`
	Refresh   bool        `json:"refresh"`
	State     any         `json:"state"`
	UI        uiContainer `json:"ui"`
}

// csrfToken returns the flow's csrf_token node value.
func (f *kratosFlow) csrfToken() string {
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			return valueString(n.Attributes.Value)
		}
	}
	return ""
}

// errFlowGone means the flow cannot be used any more (expired, unknown, or
// belongs to another browser): start a new one.
var errFlowGone = errors.New("kratos flow gone")

// errKratos means Kratos did not answer usefully.
var errKratos = errors.New("kratos unavailable")

// kratosClient talks to Kratos's public API on behalf of the browser,
// forwarding its cookies.
type kratosClient struct {
	public *url.URL
	http   *http.Client
}

func (k *kratosClient) url(path string, q url.Values) string {
	u := *k.public
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// getJSON GETs a Kratos public endpoint with the browser's cookies.
func (k *kratosClient) getJSON(ctx context.Context, r *http.Request, path string, q url.Values, out any) (int, error) {
	status, body, err := k.get(ctx, r, path, q)
	if err != nil || status != http.StatusOK {
		return status, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return status, fmt.Errorf("%w: decode %s: %v", errKratos, path, err)
	}
	return status, nil
}

// get GETs a Kratos public endpoint with the browser's cookies and returns
// the status and body, whatever the status.
func (k *kratosClient) get(ctx context.Context, r *http.Request, path string, q url.Values) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url(path, q), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c := r.Header.Get("Cookie"); c != "" {
		req.Header.Set("Cookie", c)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errKratos, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%w: %v", errKratos, err)
	}
	return resp.StatusCode, body, nil
}

// flowGoneError is errFlowGone with what Kratos said about the old flow.
type flowGoneError struct {
	returnTo string // the expired flow's return_to, if Kratos named it
}

func (e *flowGoneError) Error() string        { return errFlowGone.Error() }
func (e *flowGoneError) Is(target error) bool { return target == errFlowGone }

// getFlow fetches a browser flow by id.
func (k *kratosClient) getFlow(ctx context.Context, r *http.Request, kind, id string) (*kratosFlow, error) {
	status, body, err := k.get(ctx, r, "/self-service/"+kind+"/flows", url.Values{"id": {id}})
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusOK:
		var f kratosFlow
		if err := json.Unmarshal(body, &f); err != nil {
			return nil, fmt.Errorf("%w: decode %s flow: %v", errKratos, kind, err)
		}
		return &f, nil
	case status == http.StatusGone:
		// Expired: Kratos's 410 carries the flow's return_to in
		// error.details, so the new flow can keep it.
		var e kratosError
		_ = json.Unmarshal(body, &e) // best effort: no details, no return_to
		rt, _ := e.Error.Details["return_to"].(string)
		return nil, &flowGoneError{returnTo: rt}
	case status == http.StatusNotFound, status == http.StatusForbidden,
		status == http.StatusBadRequest, status == http.StatusUnauthorized:
		// 404 unknown, 403 CSRF / other identity, 401 no session (settings).
		return nil, errFlowGone
	default:
		return nil, fmt.Errorf("%w: GET %s flow: HTTP %d", errKratos, kind, status)
	}
}

type kratosError struct {
	ID    string `json:"id"`
	Error struct {
		Code    int            `json:"code"`
		Status  string         `json:"status"`
		Reason  string         `json:"reason"`
		Message string         `json:"message"`
		ID      string         `json:"id"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

type kratosSession struct {
	ID       string `json:"id"`
	Active   bool   `json:"active"`
	Identity struct {
		ID     string         `json:"id"`
		Traits map[string]any `json:"traits"`
	} `json:"identity"`
}

type logoutURL struct {
	LogoutURL string `json:"logout_url"`
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
