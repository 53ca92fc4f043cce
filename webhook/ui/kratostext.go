package ui

import (
	"strconv"
	"strings"
	"time"
)

// Kratos (v1.3.1, text/message_validation.go) sends three validation
// messages whose text is built in English from variable parts, so one
// catalogue string per id cannot say them:
//
//   - 4000001 (NewValidationErrorGeneric): Text is the context's "reason",
//     a JSON-schema error as the validator worded it (`"abc" is not valid
//     "tel"` for a trait's format, `value must be one of "a", "b"` for an
//     enum) or a reason Kratos wrote itself;
//   - 4000004 (NewErrorValidationInvalidFormat): `does not match pattern
//     "<regexp>"`, context "pattern";
//   - 4000028 (NewErrorValidationDuplicateCredentialsWithHints): sentences
//     built from "credential_identifier_hint", "available_credential_types"
//     and "available_oidc_providers";
//
// 1010016 (NewInfoLoginLinkMessage) quotes the e-mail and the provider in
// English; 1070002 is a label from the identity schema's title;
// and 1060001 (NewRecoverySuccessful) carries the minutes left for the
// privileged session, said here as the time it ends.
//
// kratosFreeText words the shapes it knows from their context; for any other
// (a reason it cannot read) it reports false, and the caller keeps Kratos's
// own English text: a message in English beats a wrong or empty one.
func kratosFreeText(lang string, msgID int, ctx map[string]any) (string, bool) {
	switch msgID {
	case 4000001:
		reason, _ := ctx["reason"].(string)
		return validationReason(lang, reason)
	case 4000004:
		pattern, ok := ctx["pattern"].(string)
		if !ok {
			return "", false
		}
		return expand(lang, Text(lang, "kratos.pattern"), map[string]any{"pattern": strconv.Quote(pattern)}), true
	case 4000028:
		return duplicateWithHints(lang, ctx)
	case 1010016:
		return loginLink(lang, ctx)
	case 1070002:
		// A label from the identity schema's title: the operator's word,
		// said in the page's language when the catalogue knows it.
		title, _ := ctx["title"].(string)
		t, ok := catalogue[lang]["page.schema."+title]
		return t, ok && title != ""
	case 1060001:
		// Kratos says how many minutes are left as the page is built; the
		// catalogue says by when, or "within minutes" without a time.
		if s, ok := ctx["privileged_session_expires_at"].(string); ok {
			if _, err := time.Parse(time.RFC3339, s); err == nil {
				return expand(lang, Text(lang, "kratos.recovered.until"), ctx), true
			}
		}
	}
	return "", false
}

// loginLink words 1010016 (NewInfoLoginLinkMessage): a social sign-in whose
// e-mail another account holds, to be linked by signing in to that one.
// Kratos quotes both values (%q); so does the English here.
func loginLink(lang string, ctx map[string]any) (string, bool) {
	id, ok1 := ctx["duplicate_identifier"].(string)
	if !ok1 {
		id, ok1 = ctx["duplicateIdentifier"].(string)
	}
	provider, ok2 := ctx["provider"].(string)
	if !ok1 || !ok2 {
		return "", false
	}
	return expand(lang, Text(lang, "kratos.link"), map[string]any{"identifier": id, "provider": provider,
		"identifier_q": strconv.Quote(id), "provider_q": strconv.Quote(provider)}), true
}

// validationReason words the JSON-schema reasons of 4000001 that Kratos's
// validator (ory/jsonschema v3) produces for an identity trait.
func validationReason(lang, reason string) (string, bool) {
	// `%q is not valid %q`: the value typed, the schema's format.
	if i := strings.LastIndex(reason, ` is not valid "`); i > 0 {
		value, err1 := strconv.Unquote(reason[:i])
		format, err2 := strconv.Unquote(reason[i+len(` is not valid `):])
		if err1 != nil || err2 != nil {
			return "", false
		}
		key := "kratos.format"
		switch format {
		case "email", "tel":
			key += "." + format
		}
		if strings.TrimSpace(value) == "" {
			key += ".blank" // not «» or « »: nothing typed to show
		}
		return expand(lang, Text(lang, key), map[string]any{"value": value, "format": format,
			"value_q": strconv.Quote(value), "format_q": strconv.Quote(format)}), true
	}
	// `value must be one of "a", "b"` (an enum), `value must be "a"` (an
	// enum of one): the values as JSON-ish literals, shown as they are.
	if list, ok := strings.CutPrefix(reason, "value must be one of "); ok && list != "" {
		return expand(lang, Text(lang, "kratos.enum"), map[string]any{"values": list}), true
	}
	return "", false
}

// duplicateWithHints words 4000028 as Kratos builds it: who holds the
// identifier, then the ways to sign in that Kratos names (the known credential
// types only, or all of them as given when none is known), then the social
// sign-in providers, title-cased.
func duplicateWithHints(lang string, ctx map[string]any) (string, bool) {
	types, ok1 := stringList(ctx["available_credential_types"])
	providers, ok2 := stringList(ctx["available_oidc_providers"])
	hint, ok3 := ctx["credential_identifier_hint"].(string)
	if ctx["credential_identifier_hint"] == nil { // absent or null: no hint
		ok3 = true
	}
	if !ok1 || !ok2 || !ok3 {
		return "", false
	}
	var b strings.Builder
	if hint == "" {
		b.WriteString(Text(lang, "kratos.dup.any"))
	} else {
		b.WriteString(expand(lang, Text(lang, "kratos.dup.identifier"), map[string]any{"identifier": hint}))
	}
	var ways []string
	for _, ct := range types {
		switch ct {
		case "password", "oidc", "webauthn", "passkey":
			ways = append(ways, Text(lang, "kratos.dup.way."+ct))
		}
	}
	if len(ways) == 0 {
		// Kratos then lists the ids as they are ("code"); a page in another
		// language names those it can and leaves out the rest: an id is no
		// word for the user, and no sentence beats "so: saml".
		for _, ct := range types {
			if w, ok := catalogue[lang]["kratos.dup.way."+ct]; ok {
				ways = append(ways, w)
			} else if lang == LangEN {
				ways = append(ways, ct)
			}
		}
	}
	if len(ways) > 0 {
		b.WriteString(" ")
		b.WriteString(expand(lang, Text(lang, "kratos.dup.ways"), map[string]any{"ways": orList(lang, ways)}))
	}
	if len(providers) > 0 {
		names := make([]string, len(providers))
		for i, p := range providers {
			names[i] = titleWord(p)
		}
		b.WriteString(" ")
		b.WriteString(expand(lang, Text(lang, "kratos.dup.providers"), map[string]any{"providers": strings.Join(names, ", ")}))
	}
	return b.String(), true
}

// orList joins ways as Kratos does in English ("a, b, or c", and "a, or b"
// for two), and as Russian does ("a, b или c").
func orList(lang string, ways []string) string {
	n := len(ways)
	if n == 1 {
		return ways[0]
	}
	return strings.Join(ways[:n-1], ", ") + Text(lang, "kratos.dup.or") + ways[n-1]
}

// titleWord upper-cases the first letter of each word and lower-cases the
// rest, as Kratos's cases.Title(language.English) does for provider ids
// ("github" → "Github").
func titleWord(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
			start = true
			b.WriteRune(r)
			continue
		case start:
			b.WriteString(strings.ToUpper(string(r)))
		default:
			b.WriteString(strings.ToLower(string(r)))
		}
		start = false
	}
	return b.String()
}

// stringList reads a JSON array of strings (decoded as []any) or a
// []string; null or absent is an empty list.
func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []string:
		return x, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}
