package main

import (
	"html/template"
	"net/url"
	"strings"

	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

type msgView struct {
	Text string
	Type string // info | error | success
	// Lang is set ("en") when Text is Kratos's own English on a page in
	// another language, so a screen reader reads it as English.
	Lang string
	// HTML, when set, is Text with a clock time marked up for code.js to
	// show on the reader's clock (ui.ClockMarkup); the template prefers it.
	HTML template.HTML
}

type nodeView struct {
	Kind                         string // hidden | submit | checkbox | input | img | a | text
	Name, Type, Value, ID, Label string
	Required, Disabled, Checked  bool
	Autocomplete, Pattern        string
	MaxLength                    int
	Messages                     []msgView
	Invalid                      bool
	Src                          any // template.URL for data: images, string otherwise
	Href                         string
	Width, Height                int
	// NoValidate: a submit that leaves the form's fields unused (Kratos's
	// "Back" of two-step registration): the browser must not hold it up
	// for a required field (the password) the user has no reason to fill.
	NoValidate bool
}

type formView struct {
	Action  string
	Heading string
	Nodes   []nodeView
}

type linkView struct{ Prompt, Text, URL string }

type flowView struct {
	Lang, Kind, Title string
	Messages          []msgView
	Forms             []formView
	Links             []linkView
}

// ownForm groups get a form of their own on login/registration: their
// buttons must not be blocked by the password form's required fields.
var ownForm = map[string]bool{"oidc": true, "saml": true, "webauthn": true, "passkey": true}

// buildFlowView turns a Kratos flow into what the "flow" template renders.
// Every form posts to this UI's /<kind>/submit relay (see relay.go).
func buildFlowView(lang, kind string, f *kratosFlow, kratosBrowser string) flowView {
	v := flowView{Lang: lang, Kind: kind, Title: ui.Text(lang, "page."+kind)}
	if kind == "login" && f.Refresh {
		v.Title = ui.Text(lang, "page.login.refresh")
	}
	for _, m := range f.UI.Messages {
		v.Messages = append(v.Messages, localizeMsg(lang, m))
	}
	action := "/" + kind + "/submit?flow=" + url.QueryEscape(f.ID)

	var defaults []nodeView // hidden default-group nodes (csrf_token) go into every form
	for _, n := range f.UI.Nodes {
		if n.Group == "default" && n.Attributes.NodeType == "input" && n.Attributes.Type == "hidden" {
			defaults = append(defaults, nodeToView(lang, n))
		}
	}
	byKey := map[string]*formView{}
	var order []string
	for _, n := range f.UI.Nodes {
		if n.Attributes.NodeType == "script" {
			continue // WebAuthn/passkey scripts: not supported by this example UI
		}
		if n.Group == "default" && n.Attributes.NodeType == "input" && n.Attributes.Type == "hidden" {
			continue
		}
		key := "main"
		switch {
		case kind == "settings" && n.Group != "default":
			key = n.Group
		case (kind == "login" || kind == "registration") && ownForm[n.Group]:
			key = n.Group
		}
		fv, ok := byKey[key]
		if !ok {
			fv = &formView{Action: action}
			fv.Nodes = append(fv.Nodes, defaults...)
			if key != "main" {
				fv.Heading = ui.Text(lang, "page.group."+key)
				if fv.Heading == "page.group."+key {
					fv.Heading = key
				}
			}
			byKey[key] = fv
			order = append(order, key)
		}
		fv.Nodes = append(fv.Nodes, nodeToView(lang, n))
	}
	if len(order) == 0 && len(defaults) > 0 {
		byKey["main"] = &formView{Action: action, Nodes: defaults}
		order = append(order, "main")
	}
	for _, k := range order {
		v.Forms = append(v.Forms, *byKey[k])
	}
	base := strings.TrimSuffix(kratosBrowser, "/") + "/self-service/"
	switch kind {
	case "login":
		v.Links = []linkView{{ui.Text(lang, "page.no_account"), ui.Text(lang, "page.to_register"), base + "registration/browser"}}
	case "registration":
		v.Links = []linkView{{ui.Text(lang, "page.have_account"), ui.Text(lang, "page.to_login"), base + "login/browser"}}
	case "settings":
		v.Links = []linkView{{"", ui.Text(lang, "page.to_app"), "/welcome"}, {"", ui.Text(lang, "page.logout"), "/logout"}}
	default:
		v.Links = []linkView{{"", ui.Text(lang, "page.back_home"), base + "login/browser"}}
	}
	return v
}

func localizeMsg(lang string, m uiText) msgView {
	text, textLang := "", ""
	if m.ID != 0 {
		text = ui.Localize(lang, m.ID, m.Context)
	}
	if text == "" {
		text = m.Text
		// Kratos writes its texts in English; the hook's (1090001, 409xxxx)
		// come in the language the page asked for.
		if lang != ui.LangEN && m.ID != 1090001 && m.ID/1000 != 4090 {
			textLang = ui.LangEN
		}
	}
	t := m.Type
	if t != "error" && t != "success" {
		t = "info"
	}
	v := msgView{Text: text, Type: t, Lang: textLang}
	if textLang == "" {
		v.HTML, _ = ui.ClockMarkup(text, m.Context)
	}
	return v
}

func nodeLabel(lang string, n uiNode) string {
	if strings.HasPrefix(n.Attributes.Name, "traits.") {
		key := "page.trait." + strings.TrimPrefix(n.Attributes.Name, "traits.")
		if t := ui.Text(lang, key); t != key {
			return t
		}
	}
	if l := n.Meta.Label; l != nil {
		// 1070002: a label Kratos generated from the identity schema's title.
		if l.ID == 1070002 {
			key := "page.schema." + l.Text
			if t := ui.Text(lang, key); t != key {
				return t
			}
		}
		if t := ui.Localize(lang, l.ID, l.Context); t != "" {
			return t
		}
		return l.Text
	}
	return ""
}

func nodeToView(lang string, n uiNode) nodeView {
	a := n.Attributes
	v := nodeView{
		Name: a.Name, Type: a.Type, Value: valueString(a.Value), Label: nodeLabel(lang, n),
		Required: a.Required, Disabled: a.Disabled, Autocomplete: a.Autocomplete, Pattern: a.Pattern,
		MaxLength: a.MaxLength, ID: "f-" + safeID(a.Name),
	}
	for _, m := range n.Messages {
		mv := localizeMsg(lang, m)
		v.Messages = append(v.Messages, mv)
		if mv.Type == "error" {
			v.Invalid = true
		}
	}
	switch a.NodeType {
	case "input":
		switch a.Type {
		case "hidden":
			v.Kind = "hidden"
		case "submit", "button":
			v.Kind = "submit"
			v.NoValidate = a.Name == "screen" // "previous", "credential-selection"
		case "checkbox":
			v.Kind = "checkbox"
			v.Checked = v.Value == "true"
			v.Value = "true"
		default:
			v.Kind = "input"
			if a.Type == "password" {
				v.Value = "" // never echo a secret back into the page
			}
		}
	case "img":
		v.Kind = "img"
		v.ID = a.ID
		v.Width, v.Height = a.Width, a.Height
		// Kratos sends TOTP QR codes as data:image URLs; html/template would
		// neutralise those, so allow exactly that scheme.
		if strings.HasPrefix(a.Src, "data:image/png;base64,") || strings.HasPrefix(a.Src, "data:image/svg+xml;base64,") {
			v.Src = template.URL(a.Src) // #nosec: restricted to base64 image data
		} else {
			v.Src = a.Src
		}
	case "a":
		v.Kind = "a"
		v.ID = a.ID
		v.Href = a.Href
		if a.Title != nil {
			v.Label = localizeMsg(lang, *a.Title).Text
		}
	case "text":
		v.Kind = "text"
		v.ID = a.ID
		if a.Text != nil {
			v.Label = localizeMsg(lang, *a.Text).Text
		}
	}
	return v
}

func safeID(name string) string {
	var b strings.Builder
	for _, c := range name {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}
