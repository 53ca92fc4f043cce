package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace bounds the graceful shutdown once the context is cancelled.
const shutdownGrace = 5 * time.Second

// ListenAndServe runs a standalone simulator on addr until ctx is cancelled,
// then shuts down gracefully. logger (if not nil) overrides cfg.Logger.
func ListenAndServe(ctx context.Context, addr string, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, cfg, logger)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func Serve(ctx context.Context, ln net.Listener, cfg Config, logger *slog.Logger) error {
	if logger != nil {
		cfg.Logger = logger
	}
	s, err := New(cfg)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("callpass sim: listening", "addr", ln.Addr().String(),
		"phone", "http://"+ln.Addr().String()+"/sim/phone")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}
	// Release held-back answers first so Shutdown does not wait for them.
	_ = s.Close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("sim: shutdown: %w", err)
	}
	s.log.Info("callpass sim: stopped")
	return nil
}
