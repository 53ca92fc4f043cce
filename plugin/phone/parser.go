package phone

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultParserSize is the number of inputs a Parser remembers. An entry is
// at most a MaxInputLen-byte key, a 12-byte number and the LRU's list and map
// bookkeeping, about 250 bytes measured, so a full default cache holds about
// 1 MiB.
const DefaultParserSize = 4096

// Parser is Parse with a memory. The library parse is regex-heavy and
// costs microseconds, while the same few spellings arrive again and again:
// every login of an identity, and every refused start when someone hammers
// one victim's number. Only successes are kept, so junk input cannot fill
// the cache; failures stay cheap because the checks before the library
// refuse most junk early. Safe for concurrent use. A nil *Parser parses
// without a cache.
type Parser struct {
	cache *lru.Cache[string, Number]
}

// NewParser returns a Parser that remembers up to size inputs
// (DefaultParserSize if size <= 0).
func NewParser(size int) *Parser {
	if size <= 0 {
		size = DefaultParserSize
	}
	c, err := lru.New[string, Number](size)
	if err != nil { // only for size <= 0, ruled out above
		panic(err)
	}
	return &Parser{cache: c}
}

// Parse returns exactly what Parse(input) returns. The key is the raw
// input, not a normalised form, so a hit never depends on anything Parse
// would have decided.
func (p *Parser) Parse(input string) (Number, error) {
	if p == nil {
		return Parse(input)
	}
	if n, ok := p.cache.Get(input); ok {
		return n, nil
	}
	n, err := Parse(input)
	if err != nil {
		return n, err
	}
	// A copy, so the key cannot pin a larger buffer input was sliced from
	// and the memory bound above holds.
	p.cache.Add(strings.Clone(input), n)
	return n, nil
}
