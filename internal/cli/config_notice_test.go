package cli

import (
	"strings"
	"testing"
)

// TestInvalidConfigShowsMisspeltVariables: config validate (and serve,
// through reportConfigError) prints the misspelt environment variables
// with the problems: "webhook.secret: is required" alone hid that the
// secret was set under WEBHOOK_SECRET_FLE.
func TestInvalidConfigShowsMisspeltVariables(t *testing.T) {
	env := []string{"CALLPASS_TOKEN=" + testToken, "WEBHOOK_SECRET_FLE=/run/secrets/webhook_secret"}
	for _, args := range [][]string{{"config", "validate"}, {"serve"}} {
		code, _, errs := run(t, env, args...)
		if code != 1 || !strings.Contains(errs, "  - webhook.secret: is required") {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		if !strings.Contains(errs, "  note: environment variable WEBHOOK_SECRET_FLE is not a configuration variable and is ignored: did you mean WEBHOOK_SECRET_FILE?") {
			t.Errorf("%v: stderr does not name the misspelt variable:\n%s", args, errs)
		}
		if strings.Contains(errs, "/run/secrets") {
			t.Errorf("%v: stderr carries the variable's value:\n%s", args, errs)
		}
	}
}
