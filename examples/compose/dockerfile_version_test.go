package compose_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileStampsVersion: the image's build passes its VERSION build
// argument to the service's -X flag, and that flag names the variable
// `callpass-kratos version` prints (a wrong package path is silently
// ignored by the linker, so the flag is tried on a real build).
func TestDockerfileStampsVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	if !regexp.MustCompile(`(?m)^ARG VERSION=`).MatchString(df) {
		t.Fatal("the Dockerfile declares no VERSION build argument")
	}
	m := regexp.MustCompile(`-X (\S+)=\$\{VERSION\}`).FindStringSubmatch(df)
	if m == nil || !strings.Contains(df, "./cmd/callpass-kratos") {
		t.Fatal("the service's go build sets no -X <variable>=${VERSION}")
	}
	bin := filepath.Join(t.TempDir(), "callpass-kratos")
	build := exec.Command("go", "build", "-ldflags=-X "+m[1]+"=v9.8.7-test", "-o", bin, "./cmd/callpass-kratos")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "callpass-kratos v9.8.7-test" {
		t.Errorf("version of a build with the Dockerfile's -X flag: %q", got)
	}
}
