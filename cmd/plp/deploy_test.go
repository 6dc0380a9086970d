package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestKubernetesManifestsParse checks the plp command lines of deploy/'s Kubernetes Jobs against plp's own
// parser, and that the Indexed Job tells plp as many shards as it has completions.
func TestKubernetesManifestsParse(t *testing.T) {
	argsLine := regexp.MustCompile(`(?m)^\s*args: (\[.*\])\s*$`)
	for _, c := range []struct {
		file, command string
	}{{"../../deploy/k8s-embed-job.yaml", "embed"}, {"../../deploy/k8s-merge-job.yaml", "merge"}} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := argsLine.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no args: [...] line", c.file)
		}
		var args []string
		if err := json.Unmarshal(m[1], &args); err != nil {
			t.Fatalf("%s: args: %v", c.file, err)
		}
		if len(args) == 0 || args[0] != c.command {
			t.Fatalf("%s runs %v, want plp %s", c.file, args, c.command)
		}
		got, err := parseOnly(args)
		if err != nil {
			t.Fatalf("%s: plp %v: %v", c.file, args, err)
		}
		if c.command != "embed" {
			continue
		}
		comp := regexp.MustCompile(`(?m)^\s*completions: ([0-9]+)`).FindSubmatch(b)
		if comp == nil {
			t.Fatalf("%s: no completions", c.file)
		}
		if shards := got.Flags["shards"]; comp == nil || string(comp[1]) != jsonText(shards) {
			t.Errorf("%s: completions %s but --shards %v", c.file, comp[1], shards)
		}
		if !slices.Contains(args, "--out") {
			t.Errorf("%s: embed without --out", c.file)
		}
	}
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }
