// Package cli is the command line of callpass-kratos: it parses arguments,
// loads configuration and hands over to the packages that do the work.
package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// usageError is a wrong invocation: exit status 2 with the usage text.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError is a command's answer given as its exit status (bans show: 1,
// not banned; 2, it could not tell): err, if any, is printed as any other
// error; nil when the command's output says everything.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// env is the process environment handed to a command.
type env struct {
	vars   []string
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the service (Kratos webhooks, step-up API, JWKS)", serveUsage, runServe},
		{"sim", "run the CallPass simulator with its virtual phone page", simUsage, runSim},
		{"call", "place one test call through the configured provider", callUsage, runCall},
		{"config", "check a configuration: config validate [--config file] [--dev] [--print]", configUsage, runConfig},
		{"keys", "manage JWT signing keys: keys generate|list|activate|remove", keysUsage, runKeys},
		{"bans", "show or lift an identity's regulation ban (Redis store): bans show|lift <identity-id | number>", bansUsage, runBans},
		{"token", "check a JWT: token verify --jwks <url|file> <jwt>", tokenUsage, runToken},
		{"version", "print the version", "usage: callpass-kratos version", runVersion},
	}
}

const mainUsage = `callpass-kratos — a flash-call (CallPass) second factor for Ory Kratos

usage: callpass-kratos <command> [flags]

commands:
%s
Start here:
  callpass-kratos serve --dev          everything local: built-in simulator, generated keys
                                       open http://127.0.0.1:4477/sim/phone to watch calls
  callpass-kratos call 79001234567     place a test call (CALLPASS_TOKEN, CALLPASS_BASE_URL)

Every configuration key can be set in a YAML file (--config) or the environment
(callpass.base_url -> CALLPASS_BASE_URL). "callpass-kratos <command> --help" shows its flags.
`

// Main runs the command line and returns the process exit status.
func Main(ctx context.Context, args, vars []string, stdout, stderr io.Writer) int {
	e := env{vars: vars, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printMainUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			var ue *usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(stderr, "callpass-kratos %s: %s\n\n%s\n", c.name, ue.msg, c.usage)
				return 2
			}
			code := 1
			var xe *exitError
			if errors.As(err, &xe) {
				if xe.err == nil {
					return xe.code
				}
				code = xe.code
			}
			// An error already named after the command ("config: read …"
			// from `config validate`) is not prefixed twice.
			msg := oneLine(err.Error())
			if !strings.HasPrefix(msg, c.name+": ") {
				msg = c.name + ": " + msg
			}
			fmt.Fprintf(stderr, "callpass-kratos %s\n", msg)
			return code
		}
	}
	if hint := commandHint(args); hint != "" {
		fmt.Fprintf(stderr, "callpass-kratos: unknown command %q: %s\n\n", args[0], hint)
	} else {
		fmt.Fprintf(stderr, "callpass-kratos: unknown command %q\n\n", args[0])
	}
	printMainUsage(stderr)
	return 2
}

// commandHint suggests the command line meant when the first argument is a
// flag (`callpass-kratos --dev serve`, the order of `kratos serve --dev`
// turned round) followed by a command: flags belong to the command and
// come after it.
func commandHint(args []string) string {
	if !strings.HasPrefix(args[0], "-") {
		return ""
	}
	for i, a := range args {
		for _, c := range commands() {
			if c.name != a {
				continue
			}
			line := []string{c.name}
			after := args[i+1:]
			// config validate, keys generate, bans show, token verify: the
			// flags are the subcommand's.
			if len(after) > 0 && !strings.HasPrefix(after[0], "-") && slices.Contains([]string{"config", "keys", "bans", "token"}, c.name) {
				line, after = append(line, after[0]), after[1:]
			}
			line = append(append(line, args[:i]...), after...)
			return "flags go after the command: callpass-kratos " + strings.Join(line, " ")
		}
	}
	return ""
}

func printMainUsage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, mainUsage, b.String())
}

// oneLine keeps error output to one line (multi-problem config errors are
// printed by their command before returning).
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (…)"
	}
	return s
}

// newFlags returns a FlagSet that prints usage to stdout on --help. A parse
// error prints nothing here: the flag package would print the error and the
// usage, and Run prints both again for the usageError parseFlags returns.
func newFlags(name, usage string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var failed bytes.Buffer // the flag package writes a parse error here before it calls Usage
	fs.SetOutput(&failed)
	fs.Usage = func() {
		if failed.Len() > 0 {
			return
		}
		fmt.Fprintln(e.stdout, usage)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(&failed)
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	return nil
}

// parseFlagsAround is parseFlags for a command with positional arguments:
// it returns them and reads flags after them too (`call <number> --config
// f`), where Go's flag package stops at the first one and would take the
// flags behind it for more arguments.
func parseFlagsAround(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var pos []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		pos = append(pos, rest[0])
		if err := parseFlags(fs, rest[1:]); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// parseFlagsOnly is parseFlags for a command without positional arguments.
// Flag parsing stops at the first non-flag, so `serve cfg.yml --dev` would
// otherwise run without the file and without --dev.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		msg := "unexpected arguments: " + strings.Join(fs.Args(), " ")
		if fs.Lookup("config") != nil {
			msg += " (a configuration file is given with --config <file>)"
		}
		return &usageError{msg: msg}
	}
	return nil
}

func runVersion(_ context.Context, e env, _ []string) error {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		v = versionOf(bi)
	}
	fmt.Fprintf(e.stdout, "callpass-kratos %s\n", v)
	return nil
}

// versionOf is the version of a build without -X .../cli.Version: the
// module version Go stamped from the repository (go build, go install), or
// else the commit it recorded, so an operator can tell which upgrade notes
// apply (docs/operations.md names commits); "dev" when neither is known
// (go run, a build without .git).
func versionOf(bi *debug.BuildInfo) string {
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		return "dev (commit " + rev + ", modified)"
	}
	return "dev (commit " + rev + ")"
}
