package phone

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// parserInputs mixes valid spellings with every kind of refusal.
var parserInputs = []string{
	"+7 (900) 123-45-67",
	"8 900 123 45 67",
	"89001234567",
	"9001234567",
	"  +7 900 123 45 67  ",
	"+7\u00a0900\u00a0123\u00a045\u00a067",
	"+7 495 123-45-67",
	"+7 701 123 4567",
	"",
	"   ",
	"+7 900 ABC 45 67",
	"7+9001234567",
	"123",
	"+7 900 123 45 678",
	"+1 202 555 0123",
	"+7 000 123 45 67",
	strings.Repeat("9", MaxInputLen+1),
	"+",
}

// sameResult fails t unless the Parser's answer is the one Parse gives.
func sameResult(t *testing.T, in string, gotN Number, gotErr error) {
	t.Helper()
	wantN, wantErr := Parse(in)
	if gotN != wantN {
		t.Fatalf("Parser.Parse(%q) = %#v, want %#v", in, gotN, wantN)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("Parser.Parse(%q) error = %v, want %v", in, gotErr, wantErr)
	}
	if wantErr == nil {
		return
	}
	var got, want *Error
	if !errors.As(gotErr, &got) || !errors.As(wantErr, &want) || *got != *want {
		t.Fatalf("Parser.Parse(%q) error = %#v, want %#v", in, gotErr, wantErr)
	}
	if !errors.Is(gotErr, ErrInvalid) {
		t.Fatalf("Parser.Parse(%q) error %v does not wrap ErrInvalid", in, gotErr)
	}
}

func TestParserMatchesParse(t *testing.T) {
	p := NewParser(16)
	for _, in := range parserInputs {
		t.Run(in, func(t *testing.T) {
			for range 3 { // the miss, then hits
				n, err := p.Parse(in)
				sameResult(t, in, n, err)
			}
			_, err := Parse(in)
			if cached := p.cache.Contains(in); cached != (err == nil) {
				t.Fatalf("cached = %v for a Parse error %v", cached, err)
			}
		})
	}
}

func TestParserServesHitsFromCache(t *testing.T) {
	p := NewParser(4)
	const in = "8 (900) 123-45-67"
	want, err := p.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	// Plant a different answer: only a lookup of the cache can return it.
	planted := Number{e164: "+79990000000"}
	p.cache.Add(in, planted)
	if got, err := p.Parse(in); err != nil || got != planted {
		t.Fatalf("Parse = %v %v, want the cached %v", got.E164(), err, planted.E164())
	}
	// Another spelling of the same number is its own key.
	if got, err := p.Parse("+79001234567"); err != nil || got != want {
		t.Fatalf("other spelling = %v %v, want %v", got.E164(), err, want.E164())
	}
}

func TestParserDoesNotCacheErrors(t *testing.T) {
	p := NewParser(4)
	for _, in := range parserInputs {
		if _, err := Parse(in); err == nil {
			continue
		}
		for range 2 {
			if _, err := p.Parse(in); err == nil {
				t.Fatalf("Parser.Parse(%q) succeeded", in)
			}
		}
	}
	if n := p.cache.Len(); n != 0 {
		t.Fatalf("%d errors cached", n)
	}
}

func TestParserIsBounded(t *testing.T) {
	tests := []struct {
		size, wantCap int
	}{
		{1, 1},
		{3, 3},
		{0, DefaultParserSize},
		{-1, DefaultParserSize},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			p := NewParser(tt.size)
			total := tt.wantCap + 5
			for i := range total {
				in := fmt.Sprintf("+7900%07d", i)
				if i < tt.wantCap {
					// Filling through the library parse is slow under -race;
					// the last five go through Parse and must evict.
					p.cache.Add(in, Number{e164: in})
					continue
				}
				n, err := p.Parse(in)
				sameResult(t, in, n, err)
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := p.cache.Len(); got != tt.wantCap {
				t.Fatalf("Len = %d, want %d", got, tt.wantCap)
			}
			// Least recently used goes first.
			if p.cache.Contains(fmt.Sprintf("+7900%07d", 0)) {
				t.Fatal("oldest entry not evicted")
			}
			if !p.cache.Contains(fmt.Sprintf("+7900%07d", total-1)) {
				t.Fatal("newest entry missing")
			}
		})
	}
}

func TestParserNil(t *testing.T) {
	var p *Parser
	for _, in := range parserInputs {
		n, err := p.Parse(in)
		sameResult(t, in, n, err)
	}
}

// TestParserConcurrent is meant for -race: misses, hits and evictions from
// many goroutines at once.
func TestParserConcurrent(t *testing.T) {
	p := NewParser(8) // smaller than the inputs, so entries are evicted too
	inputs := append([]string{}, parserInputs...)
	for i := range 8 {
		inputs = append(inputs, fmt.Sprintf("8 912 000 00 %02d", i))
	}
	want := make([]Number, len(inputs))
	for i, in := range inputs {
		want[i], _ = Parse(in)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for r := range 50 {
				i := (g*7 + r) % len(inputs)
				n, err := p.Parse(inputs[i])
				if n != want[i] || (err == nil) != !want[i].IsZero() {
					errs <- fmt.Sprintf("Parse(%q) = %v %v", inputs[i], n.E164(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// BenchmarkParse and BenchmarkParserHit compare the library parse with a
// cache hit for the same input.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("+7 (900) 123-45-67"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParserHit(b *testing.B) {
	p := NewParser(DefaultParserSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse("+7 (900) 123-45-67"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParserJunk: refusals are not cached, so they must stay cheap.
func BenchmarkParserJunk(b *testing.B) {
	p := NewParser(DefaultParserSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse("+7 900 ABC 45 67"); err == nil {
			b.Fatal("junk parsed")
		}
	}
}

// BenchmarkParseCanonical is the fast path: "+7" and ten digits, as Kratos
// traits usually hold a number, validated without the library's parse.
func BenchmarkParseCanonical(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("+79001234567"); err != nil {
			b.Fatal(err)
		}
	}
}
