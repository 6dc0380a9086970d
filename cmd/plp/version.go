package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v3"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "version",
			Usage: "print plp's version, Go version and platform",
			Action: action(func(c *Context) error {
				fmt.Fprintf(c.Root().Writer, "plp %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}),
		}
	})
}
