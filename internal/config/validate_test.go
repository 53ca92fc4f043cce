package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// TestSimOutcomesAreTheSimulators: config validate accepts exactly the
// outcomes serve's simulator accepts (it uses the simulator's parser), so a
// name such as user_busy is refused here instead of at start-up.
func TestSimOutcomesAreTheSimulators(t *testing.T) {
	for _, o := range sim.Outcomes() {
		env := baseEnv("SIM_DEFAULT_OUTCOME="+string(o), "SIM_SCRIPTS=79001234567="+string(o))
		if _, _, err := Load("", env, false); err != nil {
			t.Errorf("simulator outcome %s refused: %v", o, err)
		}
	}
	// The simulator's spelling rules: case and '-' do not matter.
	if _, _, err := Load("", baseEnv("SIM_SCRIPTS=79001234567=No-Answer"), false); err != nil {
		t.Errorf("No-Answer (the simulator parses it) refused: %v", err)
	}
	tests := []struct {
		env, key, bad string
	}{
		{"SIM_SCRIPTS=79001234567=user_busy", "sim.scripts", "user_busy"},
		{"SIM_SCRIPTS=7900=Busy!", "sim.scripts", "Busy!"},
		{"SIM_DEFAULT_OUTCOME=normal_clearing", "sim.default_outcome", "normal_clearing"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env), false)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("problems = %v, want one for %s", ps, tt.key)
			}
			msg := ps[0].Message
			if !strings.Contains(msg, "unknown simulator outcome") || !strings.Contains(msg, `"`+tt.bad+`"`) {
				t.Errorf("message %q does not name the unknown outcome %q", msg, tt.bad)
			}
			// It lists the real outcomes, and suggests nothing else.
			_, known, ok := strings.Cut(msg, "known: ")
			if !ok {
				t.Fatalf("message %q does not list the known outcomes", msg)
			}
			for _, name := range strings.Split(strings.TrimSuffix(known, ")"), ", ") {
				if o, err := sim.ParseOutcome(name); err != nil || string(o) != name {
					t.Errorf("message suggests %q, which is not a simulator outcome", name)
				}
			}
		})
	}
}

// TestKeysFileMustExist: outside --dev, serve loads jwt.keys_file at
// start-up, so validate reports a missing one; --dev creates it.
func TestKeysFileMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "keys.json")
	_, _, err := Load("", append(baseEnv(), "JWT_KEYS_FILE="+missing), false)
	ps := problemsOf(t, err)
	want := "jwt.keys_file: no such file: " + missing + " (generate one with `callpass-kratos keys generate --out " + missing + "`)"
	if len(ps) != 1 || ps[0].String() != want {
		t.Fatalf("problems = %v, want\n%s", ps, want)
	}

	_, _, err = Load("", append(baseEnv(), "JWT_KEYS_FILE="+dir), false)
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "jwt.keys_file" || !strings.Contains(ps[0].Message, "is a directory") {
		t.Fatalf("directory as key file: problems = %v", ps)
	}

	if _, _, err := Load("", []string{"DEV_DATA_DIR=" + t.TempDir(), "JWT_KEYS_FILE=" + missing}, true); err != nil {
		t.Errorf("--dev with a key file still to create: %v", err)
	}
}

// TestShutdownCoversSynchronousStart: a synchronous start keeps the hook's
// request open up to callpass.timeout + request_timeout_margin; a graceful
// shutdown shorter than that cuts it at SIGTERM.
func TestShutdownCoversSynchronousStart(t *testing.T) {
	tests := []struct {
		env  []string
		want string // problem message substring on serve.shutdown_timeout; "" = valid
	}{
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s"}, "is 15s, but with a synchronous start"},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=24s"}, "set it to at least 25s"},
		{[]string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"}, ""},
		{[]string{"CALLPASS_API_VERSION=2", "CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=10s"}, ""}, // 10s + 5s = the default 15s
		{[]string{"CALLPASS_API_VERSION=3", "SERVE_SHUTDOWN_TIMEOUT=1s"}, ""},                    // asynchronous: answers at once
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			_, _, err := Load("", baseEnv(tt.env...), false)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "serve.shutdown_timeout" || !strings.Contains(ps[0].Message, tt.want) {
				t.Fatalf("problems = %v, want one on serve.shutdown_timeout containing %q", ps, tt.want)
			}
		})
	}
}
