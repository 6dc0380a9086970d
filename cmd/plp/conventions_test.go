package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"
)

// leafCommands lists every command that does something (has an action) below the root.
func leafCommands(app *cli.Command) []*cli.Command {
	var out []*cli.Command
	walk(app, func(c *cli.Command) {
		if c != app && c.Action != nil && c.Name != "completion" && c.Name != "help" {
			out = append(out, c)
		}
	})
	return out
}

// commandPath is the words that select c below the root of newApp's tree.
func commandPath(c *cli.Command) []string {
	var find func(n *cli.Command, path []string) []string
	find = func(n *cli.Command, path []string) []string {
		if n.Name == c.Name && reflect.DeepEqual(flagNames(n), flagNames(c)) && len(path) > 0 {
			return path
		}
		for _, s := range n.Commands {
			if p := find(s, append(slices.Clone(path), s.Name)); p != nil {
				return p
			}
		}
		return nil
	}
	return find(newApp(), nil)
}

// TestConventionFlags checks plp's command-line conventions on every command, including commands added
// later: each command and flag is described, each numeric flag is range-checked while parsing, and each
// command that writes an output folder or file (--out) refuses to replace it without --overwrite.
func TestConventionFlags(t *testing.T) {
	app := newApp()
	cmds := leafCommands(app)
	if len(cmds) < 15 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	for _, c := range cmds {
		if c.Usage == "" {
			t.Errorf("%s has no Usage", strings.Join(commandPath(c), " "))
		}
		for _, f := range c.Flags {
			name := f.Names()[0]
			if df, ok := f.(cli.DocGenerationFlag); !ok || df.GetUsage() == "" {
				t.Errorf("%s --%s has no Usage", strings.Join(commandPath(c), " "), name)
			}
			validated := true
			switch f := f.(type) {
			case *cli.IntFlag:
				validated = f.Validator != nil
			case *cli.FloatFlag:
				validated = f.Validator != nil
			case *cli.Uint64Flag:
				validated = f.Validator != nil
			case *cli.UintFlag:
				validated = f.Validator != nil
			case *cli.IntSliceFlag:
				validated = f.Validator != nil
			case *cli.FloatSliceFlag:
				validated = f.Validator != nil
			case *cli.DurationFlag:
				validated = f.Validator != nil
			}
			if !validated {
				t.Errorf("%s --%s is numeric but has no range check (Validator)", strings.Join(commandPath(c), " "), name)
			}
		}
		if lookupFlag(c, "out") != nil && lookupFlag(c, "overwrite") == nil && c.Name != "demo" {
			t.Errorf("%s writes --out but has no --overwrite", strings.Join(commandPath(c), " "))
		}
	}
}

// sampleArgs builds a command line for c that its parser accepts: a valid value for every flag and as many
// positional arguments as its ArgsUsage asks for. Flags are returned as groups of words that belong together.
func sampleArgs(t *testing.T, c *cli.Command) (flags [][]string, args []string) {
	for i, f := range c.Flags {
		name := "--" + f.Names()[0]
		if name == "--help" {
			continue
		}
		var v string
		switch f := f.(type) {
		case *cli.BoolFlag:
			// Alternate the two spellings: --x and --x=false.
			if i%2 == 0 {
				flags = append(flags, []string{name})
			} else {
				flags = append(flags, []string{name + "=false"})
			}
			continue
		case *cli.IntFlag:
			v = validSample(f.Validator, f.Value, 1, 2, 3, 77)
		case *cli.Uint64Flag:
			v = validSample(f.Validator, f.Value, 1, 7)
		case *cli.FloatFlag:
			v = validSample(f.Validator, f.Value, 0.5, 1, 2)
		case *cli.DurationFlag:
			v = validSample(f.Validator, f.Value, time.Second)
		case *cli.IntSliceFlag:
			v = "1,3"
		case *cli.FloatSliceFlag:
			v = "0.5,2"
		case *cli.StringSliceFlag:
			v = "a,b"
			if f.Validator != nil {
				v = strings.Join(f.Value, ",")
				if err := f.Validator([]string{"a", "b"}); v == "" && err != nil {
					v = firstAccepted(err)
				}
				if v == "" {
					v = flagSamples[f.Name]
				}
				if v == "" {
					t.Fatalf("%s --%s: add a valid sample value to flagSamples", strings.Join(commandPath(c), " "), f.Name)
				}
			}
		case *cli.StringFlag:
			v = f.Value
			if v == "" {
				v = "x-" + f.Name
				if f.Validator != nil {
					if err := f.Validator(v); err != nil {
						v = firstAccepted(err)
					}
				}
			}
		default:
			t.Fatalf("%s %s: no sample for flag type %T", strings.Join(commandPath(c), " "), name, f)
		}
		flags = append(flags, []string{name, v})
	}
	lo, hi := argBounds(c.ArgsUsage)
	n := lo
	if hi < 0 || hi > lo {
		n = lo + 1
	}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("arg%d", i))
	}
	return flags, args
}

// flagSamples are valid values for flags whose validator takes a shape the sampler cannot guess.
var flagSamples = map[string]string{
	"method-param": "knn_kth.K=5",
}

// firstAccepted reads the first value a validator's "want one of A, B, ..." message names.
func firstAccepted(err error) string {
	_, list, ok := strings.Cut(err.Error(), "want one of ")
	if !ok {
		return ""
	}
	return strings.Trim(strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })[0], `"'`)
}

// validSample returns the first candidate (the default first) that the validator accepts, as text.
func validSample[T any](valid func(T) error, candidates ...T) string {
	for _, v := range candidates {
		if valid == nil || valid(v) == nil {
			return fmt.Sprint(v)
		}
	}
	return fmt.Sprint(candidates[0])
}

// parsed is what a command saw: its positional arguments and every flag's value.
type parsed struct {
	Args  []string
	Flags map[string]any
}

// parseOnly runs plp's command line with every action replaced by a recorder, so that only parsing (and the
// argument checks) run.
func parseOnly(argv []string) (*parsed, error) {
	app := newApp()
	var got *parsed
	walk(app, func(c *cli.Command) {
		if c.Action == nil || c == app {
			return
		}
		c.Action = func(_ context.Context, c *cli.Command) error {
			got = &parsed{Args: c.Args().Slice(), Flags: map[string]any{}}
			for _, f := range c.Flags {
				got.Flags[f.Names()[0]] = c.Value(f.Names()[0])
			}
			return nil
		}
	})
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	err := app.Run(context.Background(), normalizeArgs(app, append([]string{"plp"}, argv...)))
	return got, err
}

// TestArgumentPositions drives every command with its flags before, between and after its positional
// arguments, and checks that each order gives the command the same arguments and flag values. urfave/cli
// v2 stopped reading flags at the first positional argument, so `plp encode-text "a cat" --normalize`
// embedded the text "--normalize".
func TestArgumentPositions(t *testing.T) {
	for _, c := range leafCommands(newApp()) {
		t.Run(strings.Join(commandPath(c), "_"), func(t *testing.T) {
			flags, args := sampleArgs(t, c)
			var flat []string
			for _, f := range flags {
				flat = append(flat, f...)
			}
			half := len(flags) / 2
			var before, after []string
			for _, f := range flags[:half] {
				before = append(before, f...)
			}
			for _, f := range flags[half:] {
				after = append(after, f...)
			}
			path := commandPath(c)
			orders := map[string][]string{
				"flags first": slices.Concat(path, flat, args),
				"flags last":  slices.Concat(path, args, flat),
				"interleaved": slices.Concat(path, before, args[:len(args)/2], after, args[len(args)/2:]),
			}
			if len(args) > 0 {
				// Flags between two arguments, where there are two.
				orders["between"] = slices.Concat(path, args[:1], flat, args[1:])
			}
			var ref *parsed
			var refOrder string
			for _, order := range []string{"flags first", "flags last", "interleaved", "between"} {
				argv, ok := orders[order]
				if !ok {
					continue
				}
				got, err := parseOnly(argv)
				if err != nil {
					t.Fatalf("%s: plp %s: %v", order, strings.Join(argv, " "), err)
				}
				if got == nil {
					t.Fatalf("%s: plp %s: the action did not run", order, strings.Join(argv, " "))
				}
				if !slices.Equal(got.Args, args) {
					t.Errorf("%s: arguments %q, want %q", order, got.Args, args)
				}
				if ref == nil {
					ref, refOrder = got, order
					continue
				}
				if !reflect.DeepEqual(got.Flags, ref.Flags) {
					t.Errorf("%s gives flags %v, %s gives %v", order, got.Flags, refOrder, ref.Flags)
				}
			}
			// A stray extra argument is an error, unless the command takes any number.
			if _, hi := argBounds(c.ArgsUsage); hi >= 0 {
				if _, err := parseOnly(slices.Concat(path, flat, args, []string{"stray"})); err == nil {
					t.Errorf("a stray argument was accepted")
				}
			}
		})
	}
}

// TestPaperSpellings checks that the paper's argparse spellings reach plp's flags.
func TestPaperSpellings(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		flag string
		want any
	}{
		{[]string{"probe", "--embeds", "e", "--arch", "m", "--dataset", "d", "--out", "o", "--batch_size", "256"}, "batch", 256},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--num_epochs", "7"}, "epochs", 7},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--arch", "ViT"}, "model", "ViT"},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--pseudo_labels", "True"}, "pseudo-labels", true},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--pseudo_labels", "False"}, "pseudo-labels", false},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--embed_norm=False"}, "embed-norm", false},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--embed-norm", "false"}, "embed-norm", false},
		{[]string{"eval", "--embeds", "e", "--maha", "False"}, "maha", false},
		{[]string{"eval", "--embeds", "e", "--maha", "TRUE"}, "maha", true},
	} {
		got, err := parseOnly(tc.argv)
		if err != nil {
			t.Errorf("plp %s: %v", strings.Join(tc.argv, " "), err)
			continue
		}
		if !reflect.DeepEqual(got.Flags[tc.flag], tc.want) {
			t.Errorf("plp %s: --%s = %v, want %v", strings.Join(tc.argv, " "), tc.flag, got.Flags[tc.flag], tc.want)
		}
		if len(got.Args) != 0 {
			t.Errorf("plp %s: left arguments %q", strings.Join(tc.argv, " "), got.Args)
		}
	}
}

// TestUsageErrors checks the answers to command lines plp cannot understand: short, with the closest names,
// exit status 2, and never the whole help text.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"embd"}, `unknown command "embd"; did you mean embed?`},
		{[]string{"bench", "gemmm"}, `unknown command "gemmm"; did you mean gemm?`},
		{[]string{"embed", "--modle", "m"}, "unknown flag --modle; did you mean --model?"},
		{[]string{"embed", "--model", "m"}, `Required flags "dataset, out" not set`},
		{[]string{"embed", "--model", "m", "--dataset", "d", "--out", "o", "oops"}, `unexpected argument "oops"`},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--lr", "-1"}, `--lr: want a positive number, got -1`},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--steps", "-5"}, `--steps: want a value >= 0, got -5`},
		{[]string{"convert", "in.pt"}, "missing arguments: want IN OUT.safetensors"},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--lr", "abc"}, `invalid value "abc" for flag --lr: not a number`},
		{[]string{"probe", "--embeds", "e", "--model", "m", "--dataset", "d", "--out", "o", "--epochs", "99999999999999999999"}, `for flag --epochs: out of range`},
	} {
		var out, errb bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = &out, &errb
		err := app.Run(context.Background(), normalizeArgs(app, append([]string{"plp"}, tc.argv...)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plp %s: err = %v, want %q", strings.Join(tc.argv, " "), err, tc.want)
			continue
		}
		if code := exitCode(&bytes.Buffer{}, context.Background(), err); code != 2 {
			t.Errorf("plp %s: exit status %d, want 2", strings.Join(tc.argv, " "), code)
		}
		if strings.Contains(out.String(), "OPTIONS:") || strings.Contains(errb.String(), "OPTIONS:") {
			t.Errorf("plp %s printed the help text", strings.Join(tc.argv, " "))
		}
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := exitCode(&bytes.Buffer{}, ctx, fmt.Errorf("embed: interrupted")); code != exitInterrupted {
		t.Errorf("exit status %d after an interrupt, want %d", code, exitInterrupted)
	}
	if code := exitCode(&bytes.Buffer{}, context.Background(), nil); code != 0 {
		t.Errorf("exit status %d on success", code)
	}
}

// TestFlagsAfterArgumentsRun runs the command lines that urfave/cli v2 misread, as README and the usage
// lines write them (flags last), and checks what they do.
func TestFlagsAfterArgumentsRun(t *testing.T) {
	m, w := fixtureDir+"openclip_vit_quickgelu.json", fixtureDir+"openclip_vit_quickgelu.safetensors"

	// One text, normalised: not two rows, one of them the embedding of "--normalize".
	out, err := runPLP(t, "encode-text", "--model", m, "--weights", w, "a photo of a cat.", "--normalize")
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 1 {
		t.Fatalf("encode-text printed %d rows, want 1", len(rows))
	}
	var v []float64
	if err := json.Unmarshal([]byte(rows[0]), &v); err != nil {
		t.Fatal(err)
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if math.Abs(math.Sqrt(norm)-1) > 1e-5 {
		t.Errorf("--normalize after the text: norm %v, want 1", math.Sqrt(norm))
	}

	// One row of 8 ids.
	out, err = runPLP(t, "tokenize", "a cat", "--context-length", "8")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "[49406,320,2368,49407,0,0,0,0]" {
		t.Errorf("tokenize \"a cat\" --context-length 8 = %s", got)
	}

	// Flags after file arguments are flags, not files.
	dir := t.TempDir()
	conv := filepath.Join(dir, "out.safetensors")
	if _, err := runPLP(t, "convert", "testdata/convert/state_zip.pt", conv, "--dtype", "f16"); err != nil {
		t.Fatal(err)
	}
	out, err = runPLP(t, "inspect", conv, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "{") || !strings.Contains(out, `"dtype":"F16"`) {
		t.Errorf("inspect FILE --json after convert --dtype f16:\n%.300s", out)
	}
	par := filepath.Join(dir, "parity.safetensors")
	if _, err := runPLP(t, "parity", m, "--out", par); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(par); err != nil {
		t.Errorf("parity MANIFEST --out FILE wrote nothing: %v", err)
	}
	// The same outputs again are refused, and replaced with --overwrite.
	if _, err := runPLP(t, "convert", "testdata/convert/state_zip.pt", conv); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("convert over an existing output: err = %v", err)
	}
	if _, err := runPLP(t, "convert", "testdata/convert/state_zip.pt", conv, "--overwrite"); err != nil {
		t.Errorf("convert --overwrite: %v", err)
	}
	if _, err := runPLP(t, "parity", m, "--out", par); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("parity over an existing --out: err = %v", err)
	}

	// `plp bench --json gemm` means `plp bench gemm --json`.
	out, err = runPLP(t, "bench", "--json", "gemm", "--shapes", "16x16x16", "--iters", "1")
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &g); err != nil || g["m"] != 16.0 {
		t.Errorf("bench --json gemm printed %q (%v)", out, err)
	}
}

// TestHelpTexts checks help details the command tree test cannot see: no contradictory or meaningless
// defaults.
func TestHelpTexts(t *testing.T) {
	for _, tc := range []struct {
		cmd     string
		flag    string
		without string
	}{
		{"eval", "--maha", "(default: false)"},
		{"finetune", "--epochs", "(default: 0)"},
	} {
		out, err := runPLP(t, tc.cmd, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, tc.flag+" ") && strings.Contains(line, tc.without) {
				t.Errorf("plp %s --help: %q", tc.cmd, strings.TrimSpace(line))
			}
		}
	}
	out, err := runPLP(t, "encode-text", "--help")
	if err != nil || !strings.Contains(out, "DESCRIPTION") {
		t.Errorf("encode-text has no description: %v\n%s", err, out)
	}
}

// TestAdversarialRefusesMoreThanItHas: --n beyond the source set is an error, not a quietly smaller run.
func TestAdversarialRefusesMoreThanItHas(t *testing.T) {
	_, err := runPLP(t, "adversarial", "--model", embedModel, "--weights", embedWeights, "--source", "CIFAR10", "--target", "CIFAR100",
		"--data-root", embedData, "--n", "1000", "--steps", "1", "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--n 1000: the source set CIFAR10 has only 20 test images") {
		t.Errorf("adversarial --n 1000 on 20 images: err = %v", err)
	}
}

// TestModelAliasSameStore: open_clip's spelling of a registered model reads and writes the same store folder
// as the registry name.
func TestModelAliasSameStore(t *testing.T) {
	got, err := parseOnly([]string{"probe", "--embeds", "e", "--model", "ViT-B-16/openai", "--dataset", "d", "--out", "o"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Flags["model"] != "openclip_ViT-B-16/openai" {
		t.Errorf("--model ViT-B-16/openai reads as %v", got.Flags["model"])
	}
}

// TestProbeStoreHint: a dataset or model the store does not hold is answered with what it holds.
func TestProbeStoreHint(t *testing.T) {
	dir := t.TempDir()
	writeBlobs(t, dir, "CIFAR10", "train", 20, 20, 10, 0, 1)
	writeBlobs(t, dir, "CIFAR10", "test", 20, 20, 10, 0, 2)
	for _, tc := range []struct{ dataset, model, want string }{
		{"cifar10", "toy", "did you mean CIFAR10?"},
		{"CIFAR10", "tyo", "did you mean toy?"},
	} {
		_, err := runApp(t, "probe", "--embeds", dir, "--model", tc.model, "--dataset", tc.dataset, "--out", filepath.Join(dir, "p"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("probe --dataset %s --model %s: err = %v, want %q", tc.dataset, tc.model, err, tc.want)
		}
	}
}
