package main

import (
	"os"
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
