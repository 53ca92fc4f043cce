package testenv

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

// TestKratosConfigArgIsOnePath: the -c value reads back, the way Kratos's
// flag reads it (one CSV record), as the one path it names. A path with a
// comma was read as two and Kratos did not start.
func TestKratosConfigArgIsOnePath(t *testing.T) {
	for _, path := range []string{
		"/tmp/TestX123/001/kratos-0.yml",
		"/tmp/TestX/a,b123/001/kratos-0.yml",
		"/tmp/a,b,,c/kratos-0.yml",
		`/tmp/say "hi",there/kratos-0.yml`,
		`/tmp/a"b/kratos-0.yml`,
		"/tmp/line\nbreak,x/kratos-0.yml",
		"/tmp/with space/kratos-0.yml",
	} {
		got, err := csv.NewReader(strings.NewReader(kratosConfigArg(path))).Read()
		if err != nil || !slices.Equal(got, []string{path}) {
			t.Errorf("%q: -c %q reads as %q (%v), want the path alone", path, kratosConfigArg(path), got, err)
		}
	}
}

// TestKratosTestNameWithComma: a subtest whose name holds a comma (its
// t.TempDir() holds the comma too) starts Kratos. It failed with "kratos
// exited before it was ready": Kratos read the config path as two files.
func TestKratosTestNameWithComma(t *testing.T) {
	skipShort(t)
	t.Run("a,b", func(t *testing.T) {
		k := StartKratos(t, KratosOptions{})
		if !strings.Contains(k.ConfigPath, ",") {
			t.Fatalf("config path %q has no comma: the test proves nothing", k.ConfigPath)
		}
		// Its configuration is the one written: the identity schema works.
		if id := k.CreateIdentity(t, "comma@example.org", "correct horse battery staple", "+79161234567"); id == "" {
			t.Fatal("no identity id")
		}
	})
}
