// Command demo runs the whole local stack without Docker: a real Ory Kratos
// v1.3.1 with examples/kratos/kratos.yml, callpass-kratos in dev mode (with
// the built-in CallPass simulator and its virtual phone page), the
// self-service UI (examples/ui) and the JWT-protected app (examples/app).
//
//	bash scripts/demo.sh            # builds this supervisor, then runs it
//	go run ./examples/demo          # the same, from the repository root
//
// It builds the binaries once into .callpass-dev/demo/bin, starts every part
// on its fixed port, waits until each is healthy, prints the URLs and stops
// everything (SIGTERM to each child's process group, SIGKILL after a grace
// period) on Ctrl-C or SIGTERM, or as soon as one part exits by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "repository root (default: found from the working directory)")
	logs := fs.Bool("logs", false, "also stream every part's log to the terminal (they always go to .callpass-dev/demo/logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		r, err := findRoot(wd)
		if err != nil {
			return err
		}
		*root = r
	}
	abs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	plan, err := newPlan(abs)
	if err != nil {
		return err
	}
	s := &supervisor{out: stdout, stream: *logs}
	return s.run(ctx, plan)
}

// findRoot walks up to the directory holding go.mod and scripts/kratos.sh.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "scripts", "kratos.sh")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run me from inside the callpass-kratos repository (no go.mod + scripts/kratos.sh above the working directory)")
		}
		dir = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
