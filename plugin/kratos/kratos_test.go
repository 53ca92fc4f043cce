package kratos_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     kratos.Config
		wantErr bool
	}{
		{"ok", kratos.Config{PublicURL: "http://127.0.0.1:4433", AdminURL: "http://127.0.0.1:4434/"}, false},
		{"dotted trait", kratos.Config{PublicURL: "https://a", AdminURL: "https://b", PhoneTrait: "contact.phone"}, false},
		{"no public", kratos.Config{AdminURL: "http://127.0.0.1:4434"}, true},
		{"relative admin", kratos.Config{PublicURL: "http://a", AdminURL: "/admin"}, true},
		{"bad scheme", kratos.Config{PublicURL: "ftp://a", AdminURL: "http://b"}, true},
		{"empty trait segment", kratos.Config{PublicURL: "http://a", AdminURL: "http://b", PhoneTrait: "contact..phone"}, true},
		{"negative timeout", kratos.Config{PublicURL: "http://a", AdminURL: "http://b", Timeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kratos.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestPhoneOf(t *testing.T) {
	tests := []struct {
		name   string
		trait  string
		traits map[string]any
		want   string
		wantOK bool
	}{
		{"default", "", map[string]any{"phone": "+79161234567"}, "+79161234567", true},
		{"trimmed", "", map[string]any{"phone": " +79161234567 "}, "+79161234567", true},
		{"missing", "", map[string]any{"email": "a@b"}, "", false},
		{"empty", "", map[string]any{"phone": ""}, "", false},
		{"not a string", "", map[string]any{"phone": 79161234567.0}, "", false},
		{"nested", "contact.phone", map[string]any{"contact": map[string]any{"phone": "+79031234567"}}, "+79031234567", true},
		{"nested parent not object", "contact.phone", map[string]any{"contact": "x"}, "", false},
		{"nil traits", "", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kratos.New(kratos.Config{PublicURL: "http://a", AdminURL: "http://b", PhoneTrait: tt.trait})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := c.PhoneOf(&kratos.Identity{Traits: tt.traits})
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("PhoneOf = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	c, _ := kratos.New(kratos.Config{PublicURL: "http://a", AdminURL: "http://b"})
	if _, ok := c.PhoneOf(nil); ok {
		t.Fatal("PhoneOf(nil) reported a phone")
	}
}

// TestErrorKinds checks the status -> kind mapping against a fake Kratos
// answering fixed statuses, and that a slow Kratos is cut off by Timeout.
func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name   string
		status int
		call   func(*kratos.Client) error
		want   error
	}{
		{"whoami 401", 401, func(c *kratos.Client) error { _, err := c.Session(context.Background(), "", "t"); return err }, kratos.ErrNoSession},
		{"whoami 403", 403, func(c *kratos.Client) error { _, err := c.Session(context.Background(), "a=b", ""); return err }, kratos.ErrForbidden},
		{"whoami 500", 500, func(c *kratos.Client) error { _, err := c.Session(context.Background(), "", "t"); return err }, kratos.ErrUnavailable},
		{"whoami 429", 429, func(c *kratos.Client) error { _, err := c.Session(context.Background(), "", "t"); return err }, kratos.ErrUnavailable},
		{"whoami 400", 400, func(c *kratos.Client) error { _, err := c.Session(context.Background(), "", "t"); return err }, kratos.ErrUnexpected},
		{"identity 404", 404, func(c *kratos.Client) error { _, err := c.Identity(context.Background(), "x"); return err }, kratos.ErrIdentityNotFound},
		{"identity 502", 502, func(c *kratos.Client) error { _, err := c.Identity(context.Background(), "x"); return err }, kratos.ErrUnavailable},
		{"identity 200 garbage", 200, func(c *kratos.Client) error { _, err := c.Identity(context.Background(), "x"); return err }, kratos.ErrUnexpected},
		{"ready 503", 503, func(c *kratos.Client) error { return c.Ready(context.Background()) }, kratos.ErrUnavailable},
		{"mark 404", 404, func(c *kratos.Client) error {
			return c.MarkPhoneVerified(context.Background(), "x", "+79161234567", time.Now())
		}, kratos.ErrIdentityNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"error":{"code":0}} trailing`))
			}))
			defer srv.Close()
			c, err := kratos.New(kratos.Config{PublicURL: srv.URL, AdminURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want kind %v", err, tt.want)
			}
			var ke *kratos.Error
			if !errors.As(err, &ke) || ke.StatusCode != tt.status {
				t.Fatalf("err %#v: want *kratos.Error with status %d", err, tt.status)
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		c, _ := kratos.New(kratos.Config{PublicURL: "http://127.0.0.1:1", AdminURL: "http://127.0.0.1:1"})
		if _, err := c.Session(context.Background(), "", ""); !errors.Is(err, kratos.ErrNoSession) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		c, _ := kratos.New(kratos.Config{PublicURL: srv.URL, AdminURL: srv.URL, Timeout: 100 * time.Millisecond})
		start := time.Now()
		_, err := c.Session(context.Background(), "", "t")
		if !errors.Is(err, kratos.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %s", d)
		}
	})
}

// unusedAddr is a loopback address with nothing listening.
func unusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestAgainstRealKratos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	k := testenv.StartKratos(t, testenv.KratosOptions{})
	const email, password, phone = "adapter@example.org", "correct horse battery staple", "+79161234567"
	id := k.CreateIdentity(t, email, password, phone)
	c, err := kratos.New(kratos.Config{PublicURL: k.PublicURL, AdminURL: k.AdminURL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	login, err := k.APILogin(ctx, email, password, nil)
	if err != nil || login.SessionToken == "" {
		t.Fatalf("login: %v %+v", err, login)
	}

	t.Run("session by token", func(t *testing.T) {
		s, err := c.Session(ctx, "", login.SessionToken)
		if err != nil {
			t.Fatal(err)
		}
		if s.IdentityID != id || !s.Active || s.AAL != "aal1" || len(s.Methods) != 1 || s.Methods[0] != "password" {
			t.Fatalf("session %+v", s)
		}
		if s.ID == "" || s.ID == "00000000-0000-0000-0000-000000000000" {
			t.Errorf("session id %q", s.ID)
		}
		if s.AuthenticatedAt.IsZero() || !s.ExpiresAt.After(time.Now()) {
			t.Errorf("times %v %v", s.AuthenticatedAt, s.ExpiresAt)
		}
		if s.Traits["phone"] != phone {
			t.Errorf("traits %v", s.Traits)
		}
	})

	t.Run("session by cookie", func(t *testing.T) {
		b := k.NewBrowser(t)
		res, err := b.BrowserLoginFormPost(ctx, "", email, password, nil)
		if err != nil || res.SessionCookie == "" {
			t.Fatalf("browser login: %v %+v", err, res)
		}
		s, err := c.Session(ctx, res.SessionCookie, "")
		if err != nil || s.IdentityID != id {
			t.Fatalf("session %+v, err %v", s, err)
		}
	})

	// whoami never answers 404 for a session: a 404 is a kratos.public_url
	// that does not reach Kratos's public API (a proxy path left on or
	// missing, another service), a misconfiguration. It must read as a Kratos failure
	// (502 kratos_unavailable, logged as an error), not as an identity not
	// found (404 not_found to the app, a refusal nobody is told about).
	t.Run("public URL not the public API", func(t *testing.T) {
		for _, pub := range []string{k.PublicURL + "/kratos", k.PublicURL + "/self-service"} {
			wrong, err := kratos.New(kratos.Config{PublicURL: pub, AdminURL: k.AdminURL, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = wrong.Session(ctx, "", login.SessionToken)
			var ke *kratos.Error
			if !errors.As(err, &ke) || ke.StatusCode != http.StatusNotFound {
				t.Fatalf("whoami at %s: %v, want Kratos's 404", pub, err)
			}
			if !errors.Is(err, kratos.ErrUnexpected) || errors.Is(err, kratos.ErrIdentityNotFound) {
				t.Errorf("whoami at %s: %v, want ErrUnexpected", pub, err)
			}
		}
	})

	t.Run("bad token", func(t *testing.T) {
		_, err := c.Session(ctx, "", "ory_st_notatoken")
		if !errors.Is(err, kratos.ErrNoSession) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("identity and phone", func(t *testing.T) {
		ident, err := c.Identity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ident.ID != id || ident.MetadataPublic != nil {
			t.Fatalf("identity %+v", ident)
		}
		if p, ok := c.PhoneOf(ident); !ok || p != phone {
			t.Fatalf("PhoneOf = %q, %v", p, ok)
		}
		if _, err := c.Identity(ctx, "7f0f8d35-7c1b-4a5e-9d7e-2b4c1a9e0f11"); !errors.Is(err, kratos.ErrIdentityNotFound) {
			t.Fatalf("unknown identity: %v", err)
		}
	})

	t.Run("mark phone verified", func(t *testing.T) {
		at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("MSK", 3*3600))
		// First write: metadata_public is still null.
		if err := c.MarkPhoneVerified(ctx, id, phone, at); err != nil {
			t.Fatal(err)
		}
		ident, err := c.Identity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ident.MetadataPublic[kratos.MetaPhoneVerifiedAt] != "2026-11-25T09:00:00Z" ||
			ident.MetadataPublic[kratos.MetaPhoneVerifiedNumber] != phone {
			t.Fatalf("metadata_public %v", ident.MetadataPublic)
		}

		// Other metadata survives a second write.
		k.PatchIdentity(t, id, `[{"op":"add","path":"/metadata_public/plan","value":"gold"},{"op":"add","path":"/metadata_admin","value":{"note":"vip"}}]`)
		if err := c.MarkPhoneVerified(ctx, id, "+79031234567", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ident, err = c.Identity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ident.MetadataPublic["plan"] != "gold" || ident.MetadataAdmin["note"] != "vip" ||
			ident.MetadataPublic[kratos.MetaPhoneVerifiedNumber] != "+79031234567" ||
			ident.MetadataPublic[kratos.MetaPhoneVerifiedAt] != "2026-11-25T10:00:00Z" {
			t.Fatalf("metadata_public %v metadata_admin %v", ident.MetadataPublic, ident.MetadataAdmin)
		}
		if ident.Traits["phone"] != phone {
			t.Fatalf("traits changed: %v", ident.Traits)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		dead := unusedAddr(t)
		c, err := kratos.New(kratos.Config{PublicURL: dead, AdminURL: dead, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Session(ctx, "", login.SessionToken); !errors.Is(err, kratos.ErrUnavailable) {
			t.Errorf("Session: %v", err)
		}
		if _, err := c.Identity(ctx, id); !errors.Is(err, kratos.ErrUnavailable) {
			t.Errorf("Identity: %v", err)
		}
		if err := c.MarkPhoneVerified(ctx, id, phone, time.Now()); !errors.Is(err, kratos.ErrUnavailable) {
			t.Errorf("MarkPhoneVerified: %v", err)
		}
		if err := c.Ready(ctx); !errors.Is(err, kratos.ErrUnavailable) {
			t.Errorf("Ready: %v", err)
		}
	})
}
