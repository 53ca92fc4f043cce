package jwt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func kidsOf(t *testing.T, path string) []string {
	t.Helper()
	ks, err := LoadKeySet(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range ks.Keys() {
		kids = append(kids, k.KID())
	}
	return kids
}

// TestActivateRemoveKey: rotation on the file itself. ActivateKey moves a
// published key first (it then signs at load), RemoveKey unpublishes a key
// that does not sign; both keep the file's mode and refuse what they cannot do.
func TestActivateRemoveKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	a, b, c := mustKey(t, AlgES256), mustKey(t, AlgEdDSA), mustKey(t, AlgRS256)
	pubOnly, err := NewPublicKey(mustKey(t, AlgES256).Public(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, a, b, c, pubOnly); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}

	if err := ActivateKey(path, b.KID()); err != nil {
		t.Fatal(err)
	}
	if got, want := kidsOf(t, path), []string{b.KID(), a.KID(), c.KID(), pubOnly.KID()}; !slices.Equal(got, want) {
		t.Fatalf("after activate: %v, want %v", got, want)
	}
	if ks, _ := LoadKeySet(path, ""); ks.Signer().KID() != b.KID() {
		t.Fatal("the activated key does not sign at load")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode after activate %v, want 0640 kept", st.Mode().Perm())
	}
	if err := ActivateKey(path, b.KID()); err != nil {
		t.Errorf("activating the first key again: %v", err)
	}

	for name, err := range map[string]error{
		"activate unknown kid":   ActivateKey(path, "nope"),
		"activate public-only":   ActivateKey(path, pubOnly.KID()),
		"activate missing file":  ActivateKey(path+".missing", a.KID()),
		"remove the first key":   RemoveKey(path, b.KID()),
		"remove unknown kid":     RemoveKey(path, "nope"),
		"remove from a PEM file": RemoveKey(writePEM(t, dir), a.KID()),
	} {
		if !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", name, err)
		}
	}
	if err := ActivateKey(path+".missing", a.KID()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if got := kidsOf(t, path); len(got) != 4 || got[0] != b.KID() {
		t.Fatalf("refused calls changed the file: %v", got)
	}

	if err := RemoveKey(path, a.KID()); err != nil {
		t.Fatal(err)
	}
	if got, want := kidsOf(t, path), []string{b.KID(), c.KID(), pubOnly.KID()}; !slices.Equal(got, want) {
		t.Fatalf("after remove: %v, want %v", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode after remove %v, want 0640 kept", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".jwt-keys-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func writePEM(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(p, []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
