package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeMarker starts the README's shell blocks that run on the data of the repository; the test runs each
// such block exactly as written.
const readmeMarker = "# fixture data: runs as written in make test"

// readmeBlocks returns the ```sh blocks of README.md that start with readmeMarker.
func readmeBlocks(t *testing.T) []string {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	parts := strings.Split(string(b), "```sh\n")
	for _, p := range parts[1:] {
		body, _, ok := strings.Cut(p, "```")
		if !ok {
			t.Fatal("README.md has an unterminated ```sh block")
		}
		if strings.HasPrefix(body, readmeMarker) {
			blocks = append(blocks, body)
		}
	}
	return blocks
}

// TestREADMEExamples runs README's fixture-data blocks with bash from the repository root, with a `plp` on
// the PATH that is this test binary acting as plp. Every command must succeed.
func TestREADMEExamples(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) == 0 {
		t.Fatalf("README.md has no block starting with %q", readmeMarker)
	}
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shim := "#!/bin/sh\n" + envRunMain + "=1 exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "plp"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for i, block := range blocks {
		cmd := exec.Command("bash", "-euo", "pipefail", "-x", "-c", block)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README block %d: %v\n%s", i+1, err, out)
			continue
		}
		t.Logf("README block %d:\n%s", i+1, out)
	}
}
