package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// envRunMain makes the test binary act as plp itself, so that tests can run the CLI in a separate
// process (to kill it, for instance) without building it: exec os.Args[0] with plp's arguments and
// envRunMain=1 in the environment.
const envRunMain = "PLP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCLI runs plp's command line in this process as main does (argument normalisation included), with
// stdin as standard input, and returns standard output and standard error.
func runCLI(stdin string, args ...string) (stdout, stderr string, err error) {
	app := newApp()
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter, app.Reader = &out, &errb, strings.NewReader(stdin)
	err = app.Run(context.Background(), normalizeArgs(app, append([]string{"plp"}, args...)))
	return out.String(), errb.String(), err
}
