package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestMain runs main itself when the test binary is started as the
// command (CALLPASS_TEST_MAIN=1), so a test can signal a real process.
func TestMain(m *testing.M) {
	if os.Getenv("CALLPASS_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestHUPWhileStarting: a SIGHUP that arrives while serve is still starting
// (`systemctl reload` right after `systemctl start`: Type=exec counts the
// service started at exec) leaves it running. serve caught SIGHUP only once
// the app was built, so until then Go's default ended the process, and
// systemd, taking SIGHUP for a clean exit, did not restart it
// (Restart=on-failure). The configuration file here is a FIFO, which holds
// serve in its start until the test writes it.
func TestHUPWhileStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the command")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Below the ephemeral range: a port the kernel handed out could go to
	// another package's listener before serve binds it.
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(os.Args[0], "serve", "--dev", "--config", fifo)
	cmd.Env = []string{"CALLPASS_TEST_MAIN=1", "DEV_DATA_DIR=" + filepath.Join(dir, "dev"), "LOG_FORMAT=text"}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Wait until serve has the FIFO open for reading (a non-blocking open
	// for writing fails with ENXIO until then): it is then past catching
	// SIGHUP, whatever the load, and held in its start until the test
	// writes the configuration. A fixed sleep here could signal a process
	// not yet that far and fail with the fix in place.
	var w *os.File
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		w, err = os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			exited <- werr
			t.Fatalf("serve ended before reading its configuration (%v):\n%s", werr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not open its configuration: %v\n%s", err, out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Go's default for SIGHUP ends the process at once; give it the time.
	select {
	case werr := <-exited:
		exited <- werr
		_ = w.Close()
		t.Fatalf("SIGHUP while starting ended serve (%v):\n%s", werr, out.String())
	case <-time.After(500 * time.Millisecond):
	}
	fmt.Fprintf(w, "serve:\n  listen: %s\n", addr)
	w.Close()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case werr := <-exited:
			exited <- werr
			t.Fatalf("serve ended (%v):\n%s", werr, out.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/health/alive")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Still a clean stop on SIGTERM.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case werr := <-exited:
		exited <- werr
		var ee *exec.ExitError
		if werr != nil && !errors.As(werr, &ee) {
			t.Fatal(werr)
		}
		if werr != nil {
			t.Fatalf("SIGTERM: %v\n%s", werr, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", out.String())
	}
}
