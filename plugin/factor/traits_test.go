package factor

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	segjson "github.com/segmentio/encoding/json"
)

// traitStringAny is the original traitString, kept as the reference the
// token walk must agree with: decode everything into any, then index maps.
func traitStringAny(traits json.RawMessage, path string) (string, bool) {
	if len(traits) == 0 {
		return "", false
	}
	var cur any
	if err := segjson.Unmarshal(traits, &cur); err != nil {
		return "", false
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok
}

// traitDocs are the documents of the table and the fuzz seed corpus.
var traitDocs = []string{
	``,
	`{}`,
	`null`,
	`"phone"`,
	`["phone","+79001234567"]`,
	`[{},"phone","+79001234567"]`,
	`[{"phone":"+79001234567"}]`,
	`{"phone":"+79001234567"}`,
	` {"phone" : "+79001234567"} `,
	"\t\n{\r\n\"phone\":\"+79001234567\"}\n",
	`{"phone":"\u002b7 900 123-45-67"}`,
	`{"ph\u006fne":"+79001234567"}`,
	`{"phone":"+7\u00a0900\u00a0123\u00a045\u00a067"}`,
	`{"phone":"\ud83d\ude00"}`,
	`{"phone":"\ud83d"}`,
	"{\"phone\":\"\xff\xfe\"}",
	"{\"ph\xffone\":\"x\"}",
	`{"phone":"a\"b\\c\/d\n"}`,
	`{"phone":""}`,
	`{"phone":null}`,
	`{"phone":7}`,
	`{"phone":true}`,
	`{"phone":["+79001234567"]}`,
	`{"phone":{"x":"y"}}`,
	`{"phone":"+79001234567","phone":"+79007654321"}`,
	`{"phone":"+79001234567","phone":null}`,
	`{"phone":null,"phone":"+79001234567"}`,
	`{"phone":"+79001234567","\u0070hone":"+79007654321"}`,
	`{"contact":{"phone":"8 900 765 43 21"}}`,
	`{"contact":{"phone":"a"},"contact":{"mobile":"b"}}`,
	`{"contact":{"phone":"a"},"contact":{"phone":"b"}}`,
	`{"contact":{"phone":"a"},"contact":"x"}`,
	`{"contact":"x","contact":{"phone":"a"}}`,
	`{"contact":{"phone":"a","phone":{"x":1}}}`,
	`{"contact":[{"phone":"a"}]}`,
	`{"contact":{"a":{"phone":"deep"}},"phone":"top"}`,
	`{"x":{"phone":"nested"},"phone":"top"}`,
	`{"x":{"contact":{"phone":"wrong"}},"contact":{"phone":"right"}}`,
	`{"contact":{"x":[{},"phone","y"],"phone":"z"}}`,
	`{"a":{"b":{"c":"abc"}},"a.b":"dotted"}`,
	`{"":"empty key"}`,
	`{"":{"":"empty keys"}}`,
	`{"phone":"+79001234567","n":1e400}`,
	`{"phone":"+79001234567","n":-1e400}`,
	`{"phone":"+79001234567","n":1e-400}`,
	`{"phone":"+79001234567","n":[1.5,-0,0e0,12345678901234567890]}`,
	`{"phone":"+79001234567",}`,
	`{"phone":"+79001234567"`,
	`{"phone":"+79001234567"}}`,
	`{"phone":"+79001234567"} x`,
	`{"phone":"+79001234567"}{}`,
	`{"phone" "+79001234567"}`,
	`{"phone":"+79001234567" "x":1}`,
	`{phone:"+79001234567"}`,
	`{'phone':'+79001234567'}`,
	`{"phone":"\x"}`,
	`{"phone":"\u12"}`,
	"{\"phone\":\"a\x01b\"}",
	`{"phone":01}`,
	`{"phone":+1}`,
	`{"phone":NaN}`,
	`{"phone":tru}`,
	`{"a":[1,2,{"b":[{}]}],"phone":"+79001234567"}`,
	`{"a":{"b":{"c":{"d":{"e":"deep"}}}}}`,
	"\ufeff{\"phone\":\"x\"}",
}

var traitPaths = []string{
	"phone", "contact.phone", "contact.mobile", "contact", "a.b.c", "a.b", "a.b.c.d.e",
	"x.phone", "", ".", "phone.x", "n", "a.b.c.d.e.f.g.h.i.j", "ph\u006fne", "ph\ufffdone",
}

func TestTraitStringCases(t *testing.T) {
	tests := []struct {
		traits, path string
		want         string
		ok           bool
	}{
		{`{"phone":"+79001234567"}`, "phone", "+79001234567", true},
		{`{"phone":"\u002b7 900 123-45-67"}`, "phone", "+7 900 123-45-67", true},
		{`{"ph\u006fne":"x"}`, "phone", "x", true},
		{`{"phone":"a\"b\\c\/d\n"}`, "phone", "a\"b\\c/d\n", true},
		{`{"phone":""}`, "phone", "", true},
		{`{"phone":null}`, "phone", "", false},
		{`{"phone":7}`, "phone", "", false},
		{`{"phone":{"x":"y"}}`, "phone", "", false},
		{`{"phone":"a","phone":"b"}`, "phone", "b", true},
		{`{"phone":"a","phone":null}`, "phone", "", false},
		{`{"contact":{"phone":"a"},"contact":{"mobile":"b"}}`, "contact.phone", "", false},
		{`{"contact":{"phone":"a"},"contact":"x"}`, "contact.phone", "", false},
		{`{"contact":"x","contact":{"phone":"a"}}`, "contact.phone", "a", true},
		{`{"contact":[{"phone":"a"}]}`, "contact.phone", "", false},
		{`{"x":{"contact":{"phone":"wrong"}},"contact":{"phone":"right"}}`, "contact.phone", "right", true},
		{`{"a":{"b":{"c":"abc"}},"a.b":"dotted"}`, "a.b.c", "abc", true},
		{`{"a":{"b":{"c":"abc"}},"a.b":"dotted"}`, "a.b", "", false},
		{`{"":"empty key"}`, "", "empty key", true},
		{`[{"phone":"x"}]`, "phone", "", false},
		{`[{},"phone","x"]`, "phone", "", false},
		{`"phone"`, "phone", "", false},
		{`{"phone":"x","n":1e400}`, "phone", "", false}, // the any decode refuses it
		{`{"phone":"x","n":1e-400}`, "phone", "x", true},
		{`{"phone":"x",}`, "phone", "", false},
		{`{"phone":"x"} x`, "phone", "", false},
		{`{"phone":"x"`, "phone", "", false},
		{``, "phone", "", false},
	}
	for _, tt := range tests {
		got, ok := traitString(json.RawMessage(tt.traits), tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("traitString(%s, %q) = %q %v, want %q %v", tt.traits, tt.path, got, ok, tt.want, tt.ok)
		}
		if rg, rok := traitStringAny(json.RawMessage(tt.traits), tt.path); rg != tt.want || rok != tt.ok {
			t.Errorf("reference(%s, %q) = %q %v, want %q %v", tt.traits, tt.path, rg, rok, tt.want, tt.ok)
		}
	}
}

func TestTraitStringMatchesReference(t *testing.T) {
	for _, doc := range traitDocs {
		for _, path := range traitPaths {
			got, ok := traitString(json.RawMessage(doc), path)
			want, wantOK := traitStringAny(json.RawMessage(doc), path)
			if got != want || ok != wantOK {
				t.Errorf("traitString(%q, %q) = %q %v, reference %q %v", doc, path, got, ok, want, wantOK)
			}
		}
	}
}

func FuzzTraitString(f *testing.F) {
	for i, doc := range traitDocs {
		f.Add([]byte(doc), traitPaths[i%len(traitPaths)])
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		got, ok := traitString(doc, path)
		want, wantOK := traitStringAny(doc, path)
		if got != want || ok != wantOK {
			t.Fatalf("traitString(%q, %q) = %q %v, reference %q %v", doc, path, got, ok, want, wantOK)
		}
	})
}

// benchTraits is shaped like a real identity's traits.
var benchTraits = json.RawMessage(`{"email":"user@example.com","name":{"first":"Ivan","last":"Petrov"},` +
	`"phone":"+7 900 123-45-67","locale":"ru","tags":["a","b"],"age":42}`)

func BenchmarkTraitString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := traitString(benchTraits, "phone"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkTraitStringAny(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := traitStringAny(benchTraits, "phone"); !ok {
			b.Fatal("not found")
		}
	}
}

// TestTraitStringRandomDocs checks the reference agreement on generated
// documents dense in what byte mutations rarely build: nesting, arrays,
// repeated and escaped keys drawn from the path's own alphabet.
func TestTraitStringRandomDocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{`"a"`, `"b"`, `"\u0061"`, `""`, `"a.b"`}
	leaves := []string{`"x"`, `"\u002by"`, `"z"`, `null`, `1`, `true`, `[]`, `{}`}
	var value, object func(depth int) string
	object = func(depth int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(keys[r.IntN(len(keys))] + ":" + value(depth+1))
		}
		return b.String() + "}"
	}
	value = func(depth int) string {
		if r.IntN(200) == 0 {
			return `1e400` // refused by the any decode, with the whole document
		}
		switch n := r.IntN(10); {
		case depth > 3 || n < 4:
			return leaves[r.IntN(len(leaves))]
		case n < 8:
			return object(depth)
		default:
			var b strings.Builder
			b.WriteString("[")
			for i := range r.IntN(3) {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(value(depth + 1))
			}
			return b.String() + "]"
		}
	}
	paths := []string{"a", "b", "a.a", "a.b", "b.a", "a.a.a", "", "a.", "a.b.a"}
	found := 0
	for range 20000 {
		doc := json.RawMessage(object(0))
		if r.IntN(20) == 0 {
			doc = json.RawMessage(value(0)) // roots that are not objects
		}
		for _, path := range paths {
			got, ok := traitString(doc, path)
			want, wantOK := traitStringAny(doc, path)
			if got != want || ok != wantOK {
				t.Fatalf("traitString(%s, %q) = %q %v, reference %q %v", doc, path, got, ok, want, wantOK)
			}
			if ok {
				found++
			}
		}
	}
	if found < 2000 { // about 4300 with this seed
		t.Fatalf("only %d lookups found a string: the generator has drifted", found)
	}
}
