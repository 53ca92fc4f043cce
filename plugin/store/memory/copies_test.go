package memory_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
)

// TestStoredHashesAreCopies: the store keeps its own copy of a challenge's
// hashes (the code's and the earlier calls'), and hands out copies: a
// caller changing the slices it gave or got changes nothing stored.
func TestStoredHashesAreCopies(t *testing.T) {
	fields := []struct {
		name string
		of   func(*challenge.Challenge) []byte
	}{
		{"CodeHash", func(c *challenge.Challenge) []byte { return c.CodeHash }},
		{"EarlierCodeHashes", func(c *challenge.Challenge) []byte { return c.EarlierCodeHashes }},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			s := newStore(t)
			now := time.Now()
			c := storetest.New(storetest.Bind("copies"), now, time.Minute)
			c.EarlierCodeHashes = bytes.Repeat([]byte{0xa5}, 64)
			want := bytes.Clone(f.of(&c))
			if _, _, err := s.Create(t.Context(), c, "", now); err != nil {
				t.Fatal(err)
			}
			f.of(&c)[0] ^= 0xff // the caller's slice, after Create
			got, err := s.Get(t.Context(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.of(&got), want) {
				t.Fatalf("a change to the slice given to Create changed the stored %s", f.name)
			}
			f.of(&got)[0] ^= 0xff // a slice Get returned
			if again, err := s.Get(t.Context(), c.ID); err != nil || !bytes.Equal(f.of(&again), want) {
				t.Fatalf("a change to the slice Get returned changed the stored %s (%v)", f.name, err)
			}
		})
	}
}
