package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// loader applies the YAML file and the environment to a Config, recording
// which keys were set explicitly (so --dev fills only the rest) and every
// problem found on the way.
type loader struct {
	cfg      *Config
	set      map[string]bool
	problems []Problem
	// files are the secret files the YAML names (key_file), read by
	// applyFiles after the environment: a variable that sets the key (or
	// its _FILE) wins without the file being read at all.
	files []yamlFile
}

// yamlFile is a key_file of the YAML file, read once the environment is known.
type yamlFile struct {
	e       entry
	fileKey string
	path    string
}

func (l *loader) problem(key, format string, args ...any) {
	l.problems = append(l.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// lookup returns the table entry for key and whether key names its _file form.
func lookup(key string) (entry, bool, bool) {
	for _, e := range keys {
		if e.key == key {
			return e, false, true
		}
		if e.secret && e.fileKey() == key {
			return e, true, true
		}
	}
	return entry{}, false, false
}

// isSection reports whether path is a proper prefix of some key.
func isSection(path string) bool {
	for _, e := range keys {
		if strings.HasPrefix(e.key, path+".") {
			return true
		}
	}
	return false
}

// applyYAML walks the document against the key table instead of decoding
// into the struct, so an unknown key is reported with its full path and all
// problems of the file are collected in one pass. A syntax error is returned.
func (l *loader) applyYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // empty file
	} else if err != nil {
		return tabHint(data, err)
	}
	// yaml reads the first document alone: a second one (another file
	// appended after ---) would be ignored without a word, unknown keys
	// and all. Every one is looked at: an empty document (a file closed by
	// ---) must not hide the one after it.
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tabHint(data, err)
		}
		if len(more.Content) > 0 && !isNull(deref(more.Content[0])) {
			return fmt.Errorf("line %d: a second YAML document (after ---): the configuration is one document; merge it into the first", more.Content[0].Line)
		}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the top level must be a mapping of sections", root.Line)
	}
	l.walk("", root, map[string]string{})
	return nil
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+):`)

// tabHint names a tab in the indentation of the line a YAML syntax error
// points at: yaml's own words ("found character that cannot start any
// token") do not say what to fix.
func tabHint(data []byte, err error) error {
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return err
	}
	line := lines[n-1]
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	if !strings.Contains(indent, "\t") {
		return err
	}
	return fmt.Errorf("%w (line %d is indented with a tab: YAML indents with spaces only)", err, n)
}

// walk visits one mapping. seen maps a secret's key to the spelling used
// (key or key_file) so setting both forms in the file is reported.
func (l *loader) walk(prefix string, m *yaml.Node, seen map[string]string) {
	local := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], deref(m.Content[i+1])
		path := kn.Value
		if prefix != "" {
			path = prefix + "." + kn.Value
		}
		if local[kn.Value] {
			l.problem(path, "defined twice (line %d)", kn.Line)
			continue
		}
		local[kn.Value] = true

		if e, isFile, ok := lookup(path); ok {
			if isNull(vn) {
				continue // "key:" with no value leaves the default
			}
			if prev, dup := seen[e.key]; dup {
				l.problem(e.key, "%s and %s are both set; use one", prev, path)
				continue
			}
			seen[e.key] = path
			if isFile {
				l.setFromFile(e, path, vn)
			} else if err := decodeNode(e.field(l.cfg), vn); err != nil {
				// The decoders of lists, maps and durations name the line of
				// the element at fault themselves.
				if msg := err.Error(); strings.HasPrefix(msg, "line ") {
					l.problem(e.key, "%s", msg)
				} else {
					l.problem(e.key, "line %d: %s", vn.Line, msg)
				}
				continue
			}
			l.set[e.key] = true
			continue
		}
		if isSection(path) {
			if isNull(vn) {
				continue
			}
			if vn.Kind != yaml.MappingNode {
				l.problem(path, "line %d: want a mapping of keys", vn.Line)
				continue
			}
			l.walk(path, vn, seen)
			continue
		}
		if near := nearestKey(path); near != "" {
			l.problem(path, "unknown key (line %d): did you mean %s?", kn.Line, near)
		} else if moved := movedKey(path); len(moved) > 0 {
			l.problem(path, "unknown key (line %d): did you mean %s?", kn.Line, strings.Join(moved, " or "))
		} else {
			l.problem(path, "unknown key (line %d)", kn.Line)
		}
	}
}

// nearestKey is the configuration key or section within two edits of
// path (a misspelling: "serve.lisen", "server.listen"), or "".
func nearestKey(path string) string {
	best, bestDist := "", 3
	try := func(k string) {
		if d := editDistance(path, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	for _, e := range keys {
		try(e.key)
		if e.secret {
			try(e.fileKey())
		}
		for i := strings.IndexByte(e.key, '.'); i >= 0; i = nextDot(e.key, i) {
			try(e.key[:i])
		}
	}
	return best
}

// movedKey lists the keys or sections that end in path's last part (or
// its last parts): the same name written under another section, the usual
// YAML mistake (serve.admin_url for kratos.admin_url, store.url for
// store.redis.url, a top-level redis for store.redis). The longest ending
// some name has wins; more than three names of it suggest nothing. A
// one-word key (url, enabled, ttl) is too common a name to point to
// another section: it is looked for in its own section only (a section
// such as redis is specific enough).
func movedKey(path string) []string {
	var names []string
	for _, e := range keys {
		names = append(names, e.key)
		if e.secret {
			names = append(names, e.fileKey())
		}
		for i := strings.IndexByte(e.key, '.'); i >= 0; i = nextDot(e.key, i) {
			if !slices.Contains(names, e.key[:i]) {
				names = append(names, e.key[:i])
			}
		}
	}
	parts := strings.Split(path, ".")
	for i := range parts {
		end := "." + strings.Join(parts[i:], ".")
		generic := i == len(parts)-1 && i > 0 && !strings.Contains(parts[i], "_")
		var found []string
		for _, n := range names {
			if n != path && strings.HasSuffix("."+n, end) && (!generic || isSection(n) || strings.HasPrefix(n, parts[0]+".")) {
				found = append(found, n)
			}
		}
		if len(found) > 0 {
			if len(found) > 3 {
				return nil
			}
			slices.Sort(found)
			return found
		}
	}
	return nil
}

// nextDot is the index of the next '.' in s after i, or -1.
func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func (l *loader) setFromFile(e entry, fileKey string, vn *yaml.Node) {
	if vn.Kind != yaml.ScalarNode {
		l.problem(fileKey, "line %d: want a file path", vn.Line)
		return
	}
	l.files = append(l.files, yamlFile{e: e, fileKey: fileKey, path: vn.Value})
}

// applyFiles reads the secret files the YAML names. It runs after applyEnv:
// a key the environment sets (X or X_FILE) overrides the file's, so an
// unreadable file is not even opened (examples/callpass-kratos.yml).
func (l *loader) applyFiles(env map[string]string) {
	for _, f := range l.files {
		if _, ok := env[f.e.env()]; ok {
			continue
		}
		if _, ok := env[f.e.fileEnv()]; ok {
			continue
		}
		val, err := readSecretFile(f.path)
		switch {
		case err != nil:
			l.problem(f.fileKey, "%v", err)
			continue
		case strings.TrimSpace(val) == "":
			l.problem(f.fileKey, "names an empty file (%s): write the secret into it", f.path)
			continue
		}
		if err := parseString(f.e.field(l.cfg), val); err != nil {
			l.problem(f.e.key, "from %s: %v", f.fileKey, err)
			continue
		}
		l.set[f.e.key] = true
	}
}

// applyEnv applies every known variable; it runs after the file, so the
// environment wins. Then it reads the secret files the YAML names, except
// those of keys it has set (applyFiles).
func (l *loader) applyEnv(env map[string]string) {
	for _, e := range keys {
		val, hasVal := env[e.env()]
		var file string
		var hasFile bool
		if e.secret {
			file, hasFile = env[e.fileEnv()]
		}
		switch {
		case hasVal && hasFile:
			l.problem(e.key, "%s and %s are both set; use one", e.env(), e.fileEnv())
			continue
		case hasFile:
			v, err := readSecretFile(file)
			if err != nil {
				l.problem(e.key, "%s: %v", e.fileEnv(), err)
				continue
			}
			if strings.TrimSpace(v) == "" {
				l.problem(e.key, "%s names an empty file (%s): write the secret into it", e.fileEnv(), file)
				continue
			}
			val = v
		case !hasVal:
			continue
		}
		if err := parseString(e.field(l.cfg), val); err != nil {
			l.problem(e.key, "from %s: %v", e.env(), err)
			continue
		}
		l.set[e.key] = true
	}
	l.applyFiles(env)
}

// envMap turns os.Environ() form into a map. Empty values count as unset
// (compose files often pass FOO=${FOO} through); a later duplicate wins.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// readSecretFile reads a secret from a file, trimming the trailing newline
// editors and `echo` add. The error names the path, never the content.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty file path")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file: %w%s", err, relativeNote(path, err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// parseString parses an environment-style value into the field p points to.
// Only durations, integers and booleans are echoed in errors: every secret
// is a string or a list.
func parseString(p any, s string) error {
	switch v := p.(type) {
	case *string:
		*v = s
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want an integer (got %s)", echo(s))
		}
		*v = n
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false (got %s)", echo(s))
		}
		*v = b
	case *time.Duration:
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		*v = d
	case *[]string:
		*v = splitList(s)
	case *[]time.Duration:
		parts := splitList(s)
		out := make([]time.Duration, 0, len(parts))
		for _, part := range parts {
			d, err := parseDuration(part)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		*v = out
	case *map[string]string:
		out := map[string]string{}
		for _, part := range splitList(s) {
			k, val, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return errors.New("want key=value pairs separated by commas")
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		*v = out
	default:
		return fmt.Errorf("unsupported field type %T", p)
	}
	return nil
}

// decodeNode decodes a YAML value into the field p points to.
func decodeNode(p any, n *yaml.Node) error {
	switch v := p.(type) {
	case *string:
		if n.Kind != yaml.ScalarNode {
			return errors.New("want a string")
		}
		*v = n.Value
	case *int:
		isInt := func(s string) bool { _, err := strconv.Atoi(s); return err == nil }
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return errors.New("want an integer" + scalarHint(n, isInt))
		}
		x, err := strconv.Atoi(n.Value)
		if err != nil {
			return errors.New("want an integer" + scalarHint(n, isInt))
		}
		*v = x
	case *bool:
		isBool := func(s string) bool { return s == "true" || s == "false" }
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return errors.New("want true or false" + scalarHint(n, isBool))
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return errors.New("want true or false")
		}
		*v = b
	case *time.Duration:
		d, err := durationNode(n)
		if err != nil {
			return err
		}
		*v = d
	case *[]string:
		if n.Kind != yaml.SequenceNode {
			return errors.New("want a list" + listHint(n))
		}
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				return fmt.Errorf("line %d: want a list of strings", item.Line)
			}
			out = append(out, item.Value)
		}
		*v = out
	case *[]time.Duration:
		if n.Kind != yaml.SequenceNode {
			return errors.New("want a list of durations" + listHint(n))
		}
		out := make([]time.Duration, 0, len(n.Content))
		for _, item := range n.Content {
			d, err := durationNode(deref(item))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		*v = out
	case *map[string]string:
		if n.Kind != yaml.MappingNode {
			return errors.New("want a mapping")
		}
		out := map[string]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], deref(n.Content[i+1])
			if val.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a string value for %q", val.Line, k.Value)
			}
			if _, dup := out[k.Value]; dup {
				return fmt.Errorf("line %d: %q defined twice", k.Line, k.Value)
			}
			out[k.Value] = val.Value
		}
		*v = out
	default:
		return fmt.Errorf("unsupported field type %T", p)
	}
	return nil
}

// scalarHint says what a YAML integer or boolean field got instead (these
// are never secrets): a quoted "3" or "true" is a string in YAML, which the
// bare "want an integer" / "want true or false" did not explain.
func scalarHint(n *yaml.Node, valid func(string) bool) string {
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	if n.Tag == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && valid(n.Value) {
		return fmt.Sprintf(", not the quoted string %s: write it without quotes", echo(n.Value))
	}
	return fmt.Sprintf(" (got %s)", echo(n.Value))
}

// listHint explains a single value where a list belongs, without echoing
// it (lists hold secrets: sim.tokens).
func listHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return ", such as [a, b] or one \"- a\" line per item (got a single value)"
	}
	return ""
}

// echo quotes a non-secret value for an error, cut to a readable length
// at a character's start (not inside one, which would read "\xd0").
func echo(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func durationNode(n *yaml.Node) (time.Duration, error) {
	// A bare number is refused: 30 could mean seconds or nanoseconds.
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return 0, fmt.Errorf("line %d: want a duration with a unit, such as \"30s\"", n.Line)
	}
	return parseDuration(n.Value)
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a duration with a unit, such as \"30s\" (got %q)", s)
	}
	return d, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
