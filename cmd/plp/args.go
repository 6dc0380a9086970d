package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v3"

	"plp/spelling"
	"plp/zoo"
)

// usageErr is a command line plp could not understand. It exits with status 2 and points at --help
// instead of printing the whole help text.
type usageErr struct {
	cmd string
	err error
}

func (e *usageErr) Error() string {
	// main prefixes every error with "plp: ".
	if !strings.Contains(e.cmd, " ") {
		return fmt.Sprintf("%v (see '%s --help')", e.err, e.cmd)
	}
	return fmt.Sprintf("%s: %v (see '%s --help')", strings.TrimPrefix(e.cmd, "plp "), e.err, e.cmd)
}

func (e *usageErr) Unwrap() error { return e.err }

var (
	flagInMessage = regexp.MustCompile(`for flag -{1,2}([a-z][a-z0-9-]+)`)
	// strconv's wording ("strconv.ParseFloat: parsing \"abc\": invalid syntax") says nothing to a user.
	parseFailure = regexp.MustCompile(`strconv\.Parse(?:Float|Int|Uint): parsing "[^"]*": (?:invalid syntax|value out of range)`)
)

// usageError turns urfave/cli's parse errors into usageErrs, with the closest flag names for an unknown flag.
func usageError(_ context.Context, c *cli.Command, err error, _ bool) error {
	// urfave/cli names flags with one dash in its messages; plp's are typed with two.
	msg := flagInMessage.ReplaceAllString(err.Error(), "for flag --$1")
	msg = parseFailure.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasSuffix(m, "out of range") {
			return "out of range"
		}
		return "not a number"
	})
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = "--" + strings.TrimLeft(name, "-")
		msg = "unknown flag " + name + spelling.Hint(name, flagNames(c))
	}
	return &usageErr{cmd: c.FullName(), err: fmt.Errorf("%s", msg)}
}

// unknownCommand answers a misspelt command with the closest command names.
func unknownCommand(c *cli.Command, name string) error {
	return &usageErr{cmd: c.FullName(), err: fmt.Errorf("unknown command %q%s", name, spelling.Hint(name, commandNames(c)))}
}

// flagNames lists a command's flags as they are typed, "--name".
func flagNames(c *cli.Command) []string {
	var names []string
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			if len(n) > 1 {
				names = append(names, "--"+n)
			}
		}
	}
	return names
}

// commandNames lists c's subcommands, without the help command urfave/cli adds to each.
func commandNames(c *cli.Command) []string {
	var names []string
	for _, s := range c.Commands {
		if s.Name != "help" {
			names = append(names, s.Name)
		}
	}
	return names
}

// chainBefore runs a command's own Before hook after plp's.
func chainBefore(own cli.BeforeFunc, first cli.BeforeFunc) cli.BeforeFunc {
	if own == nil {
		return first
	}
	return func(ctx context.Context, c *cli.Command) (context.Context, error) {
		ctx, err := first(ctx, c)
		if err != nil {
			return ctx, err
		}
		return own(ctx, c)
	}
}

// argBounds reads the number of positional arguments a command takes from its ArgsUsage: each word is one
// argument, a word in [brackets] is optional, and a word ending in "..." takes any number (at least one
// unless bracketed). A command without ArgsUsage takes none.
func argBounds(usage string) (lo, hi int) {
	for _, w := range strings.Fields(usage) {
		optional := strings.HasPrefix(w, "[")
		many := strings.HasSuffix(strings.TrimRight(w, "]"), "...")
		if !optional {
			lo++
		}
		if many {
			hi = -1
		} else if hi >= 0 {
			hi++
		}
	}
	return lo, hi
}

// checkArgs refuses positional arguments a command does not declare: a stray word on the command line is
// more often a mistyped flag value than something to ignore.
func checkArgs(ctx context.Context, c *cli.Command) (context.Context, error) {
	lo, hi := argBounds(c.ArgsUsage)
	n := c.NArg()
	if len(commandNames(c)) > 0 && n > 0 {
		if findCommand(c, c.Args().First()) != nil {
			return ctx, nil // the subcommand checks its own arguments
		}
		if hi == 0 {
			return ctx, unknownCommand(c, c.Args().First())
		}
	}
	// An alias of a registered model (open_clip's ViT-B-16/openai) is read as the registered name, so that
	// every command finds the same store folders and reports the same name.
	if lookupFlag(c, "model") != nil && c.IsSet("model") {
		if m := c.String("model"); zoo.Canonical(m) != m {
			if err := c.Set("model", zoo.Canonical(m)); err != nil {
				return ctx, err
			}
		}
	}
	switch {
	case hi == 0 && n > 0:
		return ctx, &usageErr{cmd: c.FullName(), err: fmt.Errorf("unexpected argument %q: this command takes only flags", c.Args().First())}
	case hi > 0 && n > hi:
		return ctx, &usageErr{cmd: c.FullName(), err: fmt.Errorf("unexpected argument %q: want %s", c.Args().Get(hi), c.ArgsUsage)}
	case n < lo:
		return ctx, &usageErr{cmd: c.FullName(), err: fmt.Errorf("missing arguments: want %s", c.ArgsUsage)}
	}
	return ctx, nil
}

// paperFlags maps the paper's script arguments (argparse spellings of gen_embeds.py, linear_probing.py,
// logit_evaluation.py and finetune.py) to plp's flags. Any other underscore spelling of a plp flag is
// accepted too: --embed_norm means --embed-norm.
var paperFlags = map[string]string{
	"batch_size":    "batch",
	"num_epochs":    "epochs",
	"arch":          "model",
	"clip_arch":     "model",
	"probing_path":  "probe",
	"pseudo_labels": "pseudo-labels",
	"num_workers":   "workers",
	"ood_datasets":  "ood",
	"output_dir":    "out",
	"out_dir":       "out",
}

// normalizeArgs rewrites the spellings people bring from the paper's Python scripts into plp's: underscore
// flag names (--batch_size, --num_epochs) become plp's names, and a boolean flag followed by a separate
// True/False (argparse's `--pseudo_labels True`) becomes --flag=true/false. Without this, urfave/cli would
// take "False" as a positional argument and leave the flag on. Arguments after "--" are left alone.
func normalizeArgs(app *cli.Command, args []string) []string {
	out := append([]string(nil), args...)
	cmd := app
	for i := 1; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			if sub := findCommand(cmd, a); sub != nil {
				cmd = sub
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(cmd, name)
		if f == nil {
			if alias, ok := paperFlags[name]; ok && lookupFlag(cmd, alias) != nil {
				name = alias
			} else {
				name = strings.ReplaceAll(name, "_", "-")
			}
			f = lookupFlag(cmd, name)
			if f == nil {
				continue
			}
			if hasValue {
				out[i] = "--" + name + "=" + value
			} else {
				out[i] = "--" + name
			}
		}
		if _, isBool := f.(*cli.BoolFlag); isBool && !hasValue && i+1 < len(out) {
			switch strings.ToLower(out[i+1]) {
			case "true", "false":
				out[i] = "--" + name + "=" + strings.ToLower(out[i+1])
				out = append(out[:i+1], out[i+2:]...)
			}
		}
	}
	return out
}

func findCommand(c *cli.Command, name string) *cli.Command {
	for _, s := range c.Commands {
		if s.HasName(name) {
			return s
		}
	}
	return nil
}

func lookupFlag(c *cli.Command, name string) cli.Flag {
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
