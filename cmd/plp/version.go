package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/kernels/cpu"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "version",
			Usage: "print plp's version, Go version, platform and CPU kernel set",
			Action: action(func(c *Context) error {
				w := c.Root().Writer
				fmt.Fprintf(w, "plp %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				// PLP_CPU may cap the set below the best this CPU runs; show both.
				fmt.Fprintf(w, "CPU kernels: %s (this CPU runs %s; PLP_CPU selects)\n", cpu.KernelSet(), strings.Join(cpu.SupportedKernelSets(), ", "))
				return nil
			}),
		}
	})
}
