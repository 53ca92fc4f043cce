package jwt

import (
	"context"
	"testing"
)

func BenchmarkIssue(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			iss := mustIssuer(b, mustKeySet(b, mustKey(b, alg)), nil)
			s := testSubject()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Issue(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := mustKeySet(b, mustKey(b, alg))
			srv := newJWKSServer(b, ks)
			tok, err := mustIssuer(b, ks, nil).Issue(context.Background(), testSubject())
			if err != nil {
				b.Fatal(err)
			}
			v := mustVerifier(b, srv.URL, nil)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok.Raw); err != nil { // warm the key cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok.Raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
