// Command dicomgate moves DICOM studies from hospital sites to core labs
// without identifying data ever leaving the site. See README.md and
// docs/ for the manual; `dicomgate help` lists the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

func main() {
	// Milliseconds in log times: transfers take a few of them per file.
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "dicomgate:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "dicomgate:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a specific status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
