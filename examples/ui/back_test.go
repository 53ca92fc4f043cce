package main

import (
	"regexp"
	"testing"
)

// TestBackButtonSkipsValidation: the "Back" of Kratos's two-step
// registration sits in the form whose password field is required; it
// carries formnovalidate, or the browser would not send it until a
// password was typed. The other buttons keep the browser's checks.
func TestBackButtonSkipsValidation(t *testing.T) {
	s, _, err := buildServer(config{KratosPublic: "http://kratos.test", KratosBrowser: "http://kratos.test",
		AppURL: "http://app.test", CallpassURL: "http://callpass.test"})
	if err != nil {
		t.Fatal(err)
	}
	f := &kratosFlow{ID: "f1"}
	f.UI.Nodes = []uiNode{
		{Group: "default", Attributes: nodeAttrs{Name: "csrf_token", Type: "hidden", NodeType: "input", Value: "tok"}},
		{Group: "password", Attributes: nodeAttrs{Name: "password", Type: "password", NodeType: "input", Required: true}},
		{Group: "password", Attributes: nodeAttrs{Name: "method", Type: "submit", NodeType: "input", Value: "password"}},
		{Group: "profile", Attributes: nodeAttrs{Name: "screen", Type: "submit", NodeType: "input", Value: "previous"}},
	}
	body, err := s.exec("flow", buildFlowView("ru", "registration", f, "http://kratos.test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, value string
		skip        bool
	}{{"screen", "previous", true}, {"method", "password", false}} {
		button := regexp.MustCompile(`<button[^>]*name="` + tt.name + `" value="` + tt.value + `"[^>]*>`).FindString(string(body))
		if button == "" || regexp.MustCompile(`\bformnovalidate\b`).MatchString(button) != tt.skip {
			t.Errorf("%s=%s: %q, want formnovalidate %v", tt.name, tt.value, button, tt.skip)
		}
	}
}

// TestPreviousScreen: "Change number" takes a two-step registration at its
// password screen back to the profile with the flow's own "Back": its
// hidden fields (csrf_token, the traits) and screen=previous, never the
// password. A flow without that button is left as it is.
func TestPreviousScreen(t *testing.T) {
	f := &kratosFlow{ID: "f1"}
	f.UI.Nodes = []uiNode{
		{Group: "default", Attributes: nodeAttrs{Name: "csrf_token", Type: "hidden", NodeType: "input", Value: "tok"}},
		{Group: "default", Attributes: nodeAttrs{Name: "traits.phone", Type: "hidden", NodeType: "input", Value: "+79001234567"}},
		{Group: "password", Attributes: nodeAttrs{Name: "password", Type: "password", NodeType: "input", Value: "secret"}},
		{Group: "password", Attributes: nodeAttrs{Name: "method", Type: "submit", NodeType: "input", Value: "password"}},
	}
	if _, ok := previousScreen(f); ok {
		t.Error("a flow without a Back button taken back")
	}
	f.UI.Nodes = append(f.UI.Nodes, uiNode{Group: "profile", Attributes: nodeAttrs{Name: "screen", Type: "submit", NodeType: "input", Value: "previous"}})
	form, ok := previousScreen(f)
	if want := "csrf_token=tok&screen=previous&traits.phone=%2B79001234567"; !ok || form.Encode() != want {
		t.Errorf("%v %q, want %q", ok, form.Encode(), want)
	}
}
