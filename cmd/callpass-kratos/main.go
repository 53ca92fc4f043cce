// Command callpass-kratos is the CallPass flash-call second factor for Ory Kratos.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/callpass-kratos/callpass-kratos/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
