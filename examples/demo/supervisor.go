package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	healthTimeout = 120 * time.Second // Kratos's first start migrates its in-memory DB
	stopGrace     = 10 * time.Second  // SIGTERM → SIGKILL
)

// supervisor starts the parts in order and stops them in reverse order.
type supervisor struct {
	out    io.Writer
	stream bool

	mu      sync.Mutex
	running []*child
}

// child is one started process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

func (s *supervisor) printf(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, a...)
}

func (s *supervisor) run(ctx context.Context, p *plan) (err error) {
	for _, addr := range []string{"127.0.0.1:4433", "127.0.0.1:4434", "127.0.0.1:4455", "127.0.0.1:4477", "127.0.0.1:4480"} {
		if err := checkFree(addr); err != nil {
			return err
		}
	}
	for _, d := range []string{p.BinDir, p.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	kratosBin, err := s.kratosBinary(ctx, p.Root)
	if err != nil {
		return err
	}
	if err := s.build(ctx, p); err != nil {
		return err
	}
	defer func() {
		if stopErr := s.stopAll(); err == nil {
			err = stopErr
		}
	}()

	exited := make(chan *child, len(p.Parts))
	for _, pt := range p.Parts {
		if pt.Bin == "" {
			pt.Bin = kratosBin
		}
		c, err := s.start(pt, p.LogDir)
		if err != nil {
			return err
		}
		go func() { <-c.done; exited <- c }()
		s.printf("demo: started %-16s (pid %d), waiting for %s\n", pt.Name, c.cmd.Process.Pid, pt.Health)
		if err := waitHealthy(ctx, pt.Health, c); err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C while starting: stop quietly
			}
			return fmt.Errorf("%s: %w (log: %s)", pt.Name, err, logPath(p.LogDir, pt.Name))
		}
	}

	s.printf("\ncallpass-kratos demo is up. Open in a browser:\n\n")
	for _, u := range p.URLs {
		s.printf("  %-32s %s\n", u[0], u[1])
	}
	s.printf("\nRegister with an e-mail, a password and a Russian mobile number (e.g. +7 900 123-45-67).\n"+
		"The simulator \"calls\" that number: watch the virtual phone page and type the last 4 digits\n"+
		"of the calling number. The welcome page then offers \"Confirm with your password and a call\":\n"+
		"sign in that way and you land in the example app.\n"+
		"No real calls are placed. Logs: %s\nPress Ctrl-C to stop.\n\n", p.LogDir)

	select {
	case <-ctx.Done():
		s.printf("\ndemo: stopping…\n")
		return nil
	case c := <-exited:
		return fmt.Errorf("%s exited unexpectedly (%v); see %s", c.name, c.err, logPath(p.LogDir, c.name))
	}
}

func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is in use (%v): stop what listens there (an earlier demo?) and try again", addr, err)
	}
	return ln.Close()
}

// kratosBinary returns the cached Kratos, building it the first time
// (scripts/kratos.sh prints its progress on stderr).
func (s *supervisor) kratosBinary(ctx context.Context, root string) (string, error) {
	s.printf("demo: Kratos v1.3.1 (scripts/kratos.sh path; the first build takes a few minutes)\n")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "kratos.sh"), "path")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kratos.sh path: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// build compiles the service and the two examples; go's build cache makes
// the second run fast.
func (s *supervisor) build(ctx context.Context, p *plan) error {
	s.printf("demo: building callpass-kratos, examples/ui and examples/app into %s\n", p.BinDir)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", p.BinDir+string(filepath.Separator),
		"./cmd/callpass-kratos", "./examples/ui", "./examples/app")
	cmd.Dir = p.Root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

func logPath(dir, name string) string { return filepath.Join(dir, name+".log") }

func (s *supervisor) start(pt part, logDir string) (*child, error) {
	f, err := os.Create(logPath(logDir, pt.Name))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(pt.Bin, pt.Args...)
	cmd.Dir = pt.Dir
	cmd.Env = pt.Env
	// Own process group: the terminal's Ctrl-C reaches only the supervisor,
	// which then stops the parts in order; stopping a group also stops
	// whatever a part started itself.
	cmd.SysProcAttr = procAttr()
	var w io.Writer = f
	if s.stream {
		// exec copies through a pipe and Wait waits for the copy to finish.
		w = io.MultiWriter(f, &prefixWriter{s: s, prefix: pt.Name})
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", pt.Name, err)
	}
	c := &child{name: pt.Name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	s.track(c)
	return c, nil
}

// prefixWriter prints whole lines with the part's name in front.
type prefixWriter struct {
	s      *supervisor
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.s.printf("%-16s| %s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (s *supervisor) track(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = append(s.running, c)
}

// stopAll stops the parts in reverse start order: SIGTERM to the process
// group, SIGKILL after stopGrace.
func (s *supervisor) stopAll() error {
	s.mu.Lock()
	running := s.running
	s.running = nil
	s.mu.Unlock()
	var errs []error
	for i := len(running) - 1; i >= 0; i-- {
		c := running[i]
		pgid := c.cmd.Process.Pid
		select {
		case <-c.done:
			continue
		default:
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-c.done:
			s.printf("demo: stopped %s\n", c.name)
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-c.done
			errs = append(errs, fmt.Errorf("%s did not stop within %s and was killed", c.name, stopGrace))
		}
	}
	return errors.Join(errs...)
}

// waitHealthy polls url until it answers 200, the child exits or ctx ends.
func waitHealthy(ctx context.Context, url string, c *child) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(healthTimeout)
	var last error
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("exited before it was healthy (%v)", c.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not healthy after %s: %v", healthTimeout, last)
}
