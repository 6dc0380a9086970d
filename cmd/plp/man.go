package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "man",
			Usage: "print plp's manual page (roff), generated from the command tree",
			Description: "Every command, its arguments and its flags with their defaults, as man(7) source:\n" +
				"  plp man > plp.1 && man ./plp.1\n" +
				"  plp man | gzip > /usr/local/share/man/man1/plp.1.gz\n" +
				"Shell completion scripts come from `plp completion bash|zsh|fish`.",
			Action: action(func(c *Context) error {
				return writeMan(c.Root().Writer, c.Root())
			}),
		}
	})
}

// writeMan writes the manual page of app in man(7) format.
func writeMan(w io.Writer, app *cli.Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH PLP 1 \"\" \"plp %s\" \"User Commands\"\n", roff(version))
	fmt.Fprintf(&b, ".SH NAME\nplp \\- %s\n", roff(app.Usage))
	b.WriteString(".SH SYNOPSIS\n.B plp\n.I command\n[\\fIflags\\fR] [\\fIarguments\\fR]\n")
	b.WriteString(".SH DESCRIPTION\nFlags may come before, between or after the arguments. " +
		"Every command that writes files refuses to replace them unless given \\fB\\-\\-overwrite\\fR. " +
		"The exit status is 0 on success, 1 on failure, 2 for a command line that cannot be understood and 130 after an interrupt.\n")
	b.WriteString(".SH COMMANDS\n")
	var visit func(c *cli.Command, path string)
	visit = func(c *cli.Command, path string) {
		for _, s := range c.Commands {
			if s.Hidden || s.Name == "help" {
				continue
			}
			full := strings.TrimSpace(path + " " + s.Name)
			fmt.Fprintf(&b, ".SS \"plp %s", roff(full))
			if s.ArgsUsage != "" {
				fmt.Fprintf(&b, " %s", roff(s.ArgsUsage))
			}
			fmt.Fprintf(&b, "\"\n%s\n", roff(s.Usage))
			if s.Description != "" {
				fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roffLines(s.Description))
			}
			for _, f := range s.Flags {
				manFlag(&b, f)
			}
			visit(s, full)
		}
	}
	visit(app, "")
	b.WriteString(".SH ENVIRONMENT\n")
	b.WriteString(".TP\n.B PLP_DATA_ROOT\nfolder holding the datasets when \\fB\\-\\-data\\-root\\fR is not given\n")
	b.WriteString(".TP\n.B PLP_CPU\ncap the CPU kernel set (go, avx2, avx512, neon); never above what the CPU has\n")
	b.WriteString(".TP\n.B GOGC\ngarbage collection target; plp uses 50 unless it is set\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// manFlag writes one flag as a tagged paragraph: its names, value placeholder, usage and default.
func manFlag(b *strings.Builder, f cli.Flag) {
	if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
		return
	}
	var names []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			names = append(names, "\\-"+n)
		} else {
			names = append(names, "\\-\\-"+roff(n))
		}
	}
	usage, def := "", ""
	if d, ok := f.(cli.DocGenerationFlag); ok {
		usage = d.GetUsage()
		if d.TakesValue() && d.IsDefaultVisible() {
			def = d.GetDefaultText()
			if def == "" {
				def = d.GetValue()
			}
		}
	}
	fmt.Fprintf(b, ".TP\n\\fB%s\\fR", strings.Join(names, ", "))
	if d, ok := f.(cli.DocGenerationFlag); ok && d.TakesValue() {
		fmt.Fprintf(b, " \\fI%s\\fR", roff(placeholder(usage, d.TypeName())))
	}
	b.WriteString("\n" + roff(strings.ReplaceAll(usage, "`", "")))
	if def != "" && def != `""` && def != "0" && def != "false" {
		fmt.Fprintf(b, " (default: %s)", roff(def))
	}
	b.WriteString("\n")
}

// placeholder is the value name of a flag: the `NAME` quoted in its usage, else its type.
func placeholder(usage, typ string) string {
	if i := strings.Index(usage, "`"); i >= 0 {
		if j := strings.Index(usage[i+1:], "`"); j >= 0 {
			return usage[i+1 : i+1+j]
		}
	}
	if typ == "" {
		return "value"
	}
	return typ
}

// roff escapes text for one line of roff: backslashes and hyphens, which roff would otherwise read as
// escapes and hyphenation points.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// roffLines escapes a block of text for .nf (no-fill) mode: a line starting with '.' or '\” would be a
// request, so it gets the zero-width \& in front.
func roffLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = roff(l)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
