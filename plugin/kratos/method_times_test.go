package kratos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestWhoamiMethodTimes: the authentication methods' completed_at are
// decoded (the gate pass is found by them after Kratos moved
// authenticated_at on an AAL upgrade); a method without one, or with null,
// is left out; a completed_at that is not an RFC 3339 time, or not a
// string, refuses the answer without repeating it.
func TestWhoamiMethodTimes(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// As Kratos v1.3.1 answered after a lookup_secret upgrade of a gated
	// password login: authenticated_at moved, the password's time did not.
	upgraded := `{"id":"b1b6f3eb-311c-47bd-b645-1f7ae87ba40c","active":true,"authenticated_at":"2026-11-26T19:57:43.958960469Z",
		"authenticator_assurance_level":"aal2","authentication_methods":[
		{"method":"password","aal":"aal1","completed_at":"2026-11-26T19:57:41.826774126Z"},
		{"method":"lookup_secret","aal":"aal2","completed_at":"2026-11-26T19:57:43.958954801Z"}],
		"identity":{"id":"372e90b1-3e64-4c59-ab94-33947d19e151","traits":{"phone":"+79161234567"}}}`
	s, err := decodeWhoami([]byte(upgraded))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{at("2026-11-26T19:57:41.826774126Z"), at("2026-11-26T19:57:43.958954801Z")}
	if !reflect.DeepEqual(s.MethodTimes, want) || !reflect.DeepEqual(s.Methods, []string{"password", "lookup_secret"}) {
		t.Fatalf("methods %v times %v, want %v", s.Methods, s.MethodTimes, want)
	}
	if !s.AuthenticatedAt.Equal(at("2026-11-26T19:57:43.958960469Z")) {
		t.Errorf("authenticated_at %s", s.AuthenticatedAt)
	}

	s, err = decodeWhoami([]byte(strings.Replace(upgraded, `"completed_at":"2026-11-26T19:57:41.826774126Z"`, `"completed_at":null`, 1)))
	if err != nil || !reflect.DeepEqual(s.MethodTimes, want[1:]) {
		t.Fatalf("null completed_at: times %v err %v, want %v", s.MethodTimes, err, want[1:])
	}
	s, err = decodeWhoami([]byte(strings.Replace(upgraded, `,"completed_at":"2026-11-26T19:57:43.958954801Z"`, ``, 1)))
	if err != nil || !reflect.DeepEqual(s.MethodTimes, want[:1]) {
		t.Fatalf("no completed_at: times %v err %v, want %v", s.MethodTimes, err, want[:1])
	}

	for _, bad := range []struct{ name, value, echo string }{
		{"not a time", `"+79161234567"`, "79161234567"},
		{"no zone", `"2026-11-26T19:57:41.826774126"`, "19:57:41"},
		{"a number", `79161234567`, "79161234567"},
		{"an object", `{"phone":"+79161234567"}`, "79161234567"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			body := strings.Replace(upgraded, `"2026-11-26T19:57:41.826774126Z"`, bad.value, 1)
			s, err := decodeWhoami([]byte(body))
			if err == nil {
				t.Fatalf("accepted completed_at %s: times %v", bad.value, s.MethodTimes)
			}
			if strings.Contains(err.Error(), bad.echo) {
				t.Errorf("the error repeats the input: %v", err)
			}
		})
	}
}
