// Command plp detects out-of-distribution images with CLIP and other pretrained vision models: it runs the
// encoders, stores embeddings, trains pseudo-label probes and scores OOD sets, in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"

	"github.com/urfave/cli/v3"
)

// version is set at build time with -ldflags "-X main.version=..."; "dev" otherwise.
var version = "dev"

// builders collects the subcommands; each command's file adds itself in an init function so that
// commands live next to nothing but their own flags and output code. A builder returns a fresh command
// tree each time: urfave/cli keeps parsed values in the flags, so one tree must not serve two runs.
var builders []func() *cli.Command

func register(b func() *cli.Command) { builders = append(builders, b) }

// Context is what a command's action receives: the parsed command (flags, arguments, writers) and the
// run's context, which is cancelled on SIGINT/SIGTERM.
type Context struct {
	*cli.Command
	Context context.Context
}

// action adapts a plp action to urfave/cli's signature.
func action(f func(*Context) error) cli.ActionFunc {
	return func(ctx context.Context, c *cli.Command) error { return f(&Context{Command: c, Context: ctx}) }
}

// newApp builds the command tree. Every command refuses positional arguments it does not declare, and
// misspelt commands and flags are answered with the closest names.
func newApp() *cli.Command {
	cmds := make([]*cli.Command, 0, len(builders))
	for _, b := range builders {
		cmds = append(cmds, b())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	app := &cli.Command{
		Name:                  "plp",
		Usage:                 "out-of-distribution detection with CLIP and other pretrained vision models",
		Version:               version,
		Commands:              cmds,
		Suggest:               true,
		EnableShellCompletion: true,
		// Errors are printed once, by main, with the command's context already in the message.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError:   usageError,
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.NArg() > 0 {
				return unknownCommand(c, c.Args().First())
			}
			return cli.ShowRootCommandHelp(c)
		},
	}
	walk(app, func(c *cli.Command) {
		c.OnUsageError = usageError
		c.Suggest = true
		if c.Action != nil && c != app {
			c.Before = chainBefore(c.Before, checkArgs)
		}
	})
	return app
}

// walk visits c and every command below it.
func walk(c *cli.Command, f func(*cli.Command)) {
	f(c)
	for _, s := range c.Commands {
		walk(s, f)
	}
}

// gcPercent is plp's default GOGC. Its heap is mostly large float32 buffers without pointers, which a
// collection does not scan, so collecting at half the usual growth costs little CPU and lowers peak memory
// by a tenth to a quarter (ConvNeXt-B at batch 16: 1.39 → 1.0 GB). A GOGC in the environment still decides.
const gcPercent = 50

// exitInterrupted is the shell's convention for a run ended by SIGINT (128 + 2).
const exitInterrupted = 130

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	err := app.Run(ctx, normalizeArgs(app, os.Args))
	os.Exit(exitCode(os.Stderr, ctx, err))
}

// exitCode prints err and picks the exit status: 0 on success, 130 when the run was interrupted, 2 for a
// command line that could not be understood, 1 otherwise.
func exitCode(w io.Writer, ctx context.Context, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "plp:", err)
	var ue *usageErr
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return 2
	}
	return 1
}
