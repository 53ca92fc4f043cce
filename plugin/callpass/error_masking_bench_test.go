package callpass

import (
	"strings"
	"testing"
)

// BenchmarkErrorPageMasking is the error path's cost of masking the token
// and the destination in a long error page (60 KB, digits on every line):
// the whole body is masked before the excerpt is cut (secrets.text), so
// this is what a provider's largest error answer costs ("none": the
// digit-group masking alone, as DecodeResponse does).
func BenchmarkErrorPageMasking(b *testing.B) {
	page := "<html><body><h1>502 Bad Gateway</h1>" + strings.Repeat("<p>upstream error id 12 at 10:30, retry later</p>\n", 1300) + "</body></html>"
	page = page[:60000]
	m := clientSecrets
	for _, bc := range []struct {
		name string
		m    secrets
	}{{"none", secrets{}}, {"client", m}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := decodeAnswer(502, "text/html", []byte(page), bc.m)
				if err == nil {
					b.Fatal("no error")
				}
			}
		})
	}
}
