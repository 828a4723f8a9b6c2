// Command dashtam runs the Dashtam API server and its maintenance sub-commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dashtam/dashtam/bootstrap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	getenv, err := bootstrap.DotEnv(".env", os.Getenv)
	if err == nil {
		err = bootstrap.Run(ctx, os.Args[1:], getenv, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashtam:", err)
		stop()
		os.Exit(1)
	}
}
