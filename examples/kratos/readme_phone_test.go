package kratos_test

import (
	"net/url"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestREADMEPhoneHooksSnippetMatchesExample: the registration and settings
// hooks README.md's "Phone verification" section gives admins to copy are
// the tested example's (the two registration web_hooks in their order
// around session, and the settings one), apart from the addresses, the
// template paths and the secret an admin fills in. The section had prose
// only, and a kratos.yml assembled from it easily lost the hook after the
// save or its place before session. The block is read as the README says
// to paste it, right under the login hook's (step 2): both started with
// selfservice:, and pasted so they were a file Kratos refuses (mapping key
// "selfservice" already defined).
func TestREADMEPhoneHooksSnippetMatchesExample(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, step, ok := strings.Cut(string(raw), "2. Add the login after-hook to `kratos.yml`")
	if !ok {
		t.Fatal("README.md: no step \"Add the login after-hook to `kratos.yml`\"")
	}
	_, rest, ok := strings.Cut(step, "```yaml\n")
	login, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md: the login step has no yaml block")
	}
	_, section, ok := strings.Cut(string(raw), "### Phone verification at registration and in settings\n")
	if !ok {
		t.Fatal("README.md: no section \"Phone verification at registration and in settings\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, rest, ok = strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md: the phone verification section has no yaml block")
	}
	var snippet map[string]any
	if err := yaml.Unmarshal([]byte(dedent(login)+block), &snippet); err != nil {
		t.Fatalf("README.md's phone hooks block pasted under the login hook's does not parse: %v", err)
	}
	normalizedHooks(t, "README.md", snippet, []string{"login", "after", "password", "hooks"}) // fails if the login hook is lost
	exRaw, err := os.ReadFile("kratos.yml")
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := yaml.Unmarshal(exRaw, &example); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		path []string
		urls []string // the web_hooks' paths, in order
	}{
		{"registration", []string{"registration", "after", "password", "hooks"},
			[]string{"/hooks/kratos/registration", "/hooks/kratos/registered"}},
		{"settings", []string{"settings", "after", "profile", "hooks"},
			[]string{"/hooks/kratos/settings"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := normalizedHooks(t, "README.md", snippet, tt.path)
			want := normalizedHooks(t, "kratos.yml", example, tt.path)
			var urls []string
			for _, h := range want {
				if c, ok := h["config"].(map[string]any); ok {
					urls = append(urls, c["url"].(string))
				}
			}
			if !reflect.DeepEqual(urls, tt.urls) {
				t.Fatalf("kratos.yml's %s web_hooks go to %v, want %v", tt.name, urls, tt.urls)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("README.md's %s hooks differ from examples/kratos/kratos.yml's:\nREADME:  %v\nexample: %v", tt.name, got, want)
			}
		})
	}
}

// normalizedHooks returns the hook list under selfservice.flows.<path>,
// each web_hook's url cut to its path, its body to the template's file
// name and its bearer value to a placeholder: what an admin fills in.
func normalizedHooks(t *testing.T, name string, cfg map[string]any, keys []string) []map[string]any {
	t.Helper()
	v := any(cfg)
	for _, k := range append([]string{"selfservice", "flows"}, keys...) {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("%s: no hooks under selfservice.flows.%s", name, strings.Join(keys, "."))
	}
	out := make([]map[string]any, len(list))
	for i, item := range list {
		h, _ := item.(map[string]any)
		out[i] = h
		c, ok := h["config"].(map[string]any)
		if !ok {
			continue
		}
		u, err := url.Parse(c["url"].(string))
		if err != nil {
			t.Fatalf("%s: hook url %v", name, c["url"])
		}
		c["url"] = u.Path
		b, _ := c["body"].(string)
		if !strings.HasPrefix(b, "file://") {
			t.Fatalf("%s: hook body %v", name, c["body"])
		}
		c["body"] = path.Base(b)
		a, _ := c["auth"].(map[string]any)
		ac, _ := a["config"].(map[string]any)
		if v, _ := ac["value"].(string); !strings.HasPrefix(v, "Bearer ") {
			t.Fatalf("%s: hook auth value %v", name, ac["value"])
		}
		ac["value"] = "Bearer <secret>"
	}
	return out
}
