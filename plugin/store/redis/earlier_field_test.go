package redisstore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
)

// TestEarlierCodeHashesFieldOnlyAfterResend: a challenge's hash in Redis
// has the eh field (the earlier calls' code hashes) only when it carries
// some: a first challenge, the usual one, keeps no empty field; a resend's
// holds the hashes as they are, byte for byte.
func TestEarlierCodeHashesFieldOnlyAfterResend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb, prefix := ownStore(t)
	// hashOf returns the fields of the Redis hash holding challenge id.
	hashOf := func(id string) map[string]string {
		t.Helper()
		keys := keysUnder(t, rdb, prefix)
		for _, k := range keys {
			if rdb.Type(ctx, k).Val() != "hash" {
				continue
			}
			if m := rdb.HGetAll(ctx, k).Val(); m["id"] == id {
				return m
			}
		}
		t.Fatalf("no hash holds challenge %s (keys %v)", id, keys)
		return nil
	}
	now := time.UnixMilli(time.Now().UnixMilli())
	b := storetest.Bind("eh-field")
	first := storetest.New(b, now, 5*time.Minute)
	first.EarlierCodeHashes = []byte{} // empty, not nil: still no field
	if _, _, err := s.Create(ctx, first, "", now); err != nil {
		t.Fatal(err)
	}
	if v, ok := hashOf(first.ID)["eh"]; ok {
		t.Fatalf("first challenge: field eh = %x, want none", v)
	}

	resend := storetest.New(b, now, 5*time.Minute)
	resend.Resends = 1
	resend.EarlierCodeHashes = bytes.Clone(first.CodeHash)
	if _, created, err := s.Create(ctx, resend, first.ID, now); err != nil || !created {
		t.Fatalf("resend: created %v, %v", created, err)
	}
	if v, ok := hashOf(resend.ID)["eh"]; !ok || v != string(first.CodeHash) {
		t.Fatalf("resend: field eh = %x (present %v), want the first call's code hash %x", v, ok, first.CodeHash)
	}
	// A verify (a counted wrong code) leaves the field as it was.
	if rep, err := s.Verify(ctx, storetest.Req(resend, false, now)); err != nil || rep.Outcome != challenge.OutcomeWrong {
		t.Fatalf("verify: %v %v", rep.Outcome, err)
	}
	if v := hashOf(resend.ID)["eh"]; v != string(first.CodeHash) {
		t.Fatalf("after a wrong code: field eh = %x, want %x", v, first.CodeHash)
	}
}
