package kratos_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHookTemplatesNamePhoneTraitPath: phone_trait in the body is the path
// the template picks the trait from, joined with dots, so the service can
// check it against its kratos.phone_trait ("contact.phone" for a nested one).
func TestHookTemplatesNamePhoneTraitPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{`['phone']`, "phone"},
		{`['contact', 'phone']`, "contact.phone"},
		{`['profile', 'contact', 'mobile']`, "profile.contact.mobile"},
	}
	for _, template := range []string{"login.jsonnet", "registration.jsonnet", "settings.jsonnet"} {
		raw, err := os.ReadFile(filepath.Join("hooks", template))
		if err != nil {
			t.Fatal(err)
		}
		const line = "local phonePath = ['phone'];"
		if !strings.Contains(string(raw), line) {
			t.Fatalf("%s has no %q", template, line)
		}
		for _, tt := range tests {
			t.Run(template+"/"+tt.want, func(t *testing.T) {
				src := strings.Replace(string(raw), line, "local phonePath = "+tt.path+";", 1)
				ctx := `{"flow":{"id":"f"},"identity":{"id":"i","traits":{"phone":"+79161234567"}}}`
				body := evalHookSource(t, template, src, []byte(ctx))
				if got, ok := body["phone_trait"].(string); !ok || got != tt.want {
					t.Errorf("phone_trait %#v, want %q", body["phone_trait"], tt.want)
				}
			})
		}
	}
}
