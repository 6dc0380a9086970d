package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoTempFolder: without --out the demo removes its temporary folder at the end; with --keep it
// leaves it and says where it is.
func TestDemoTempFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo twice")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	log, err := runApp(t, "demo", "--repo", "../..")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, log)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("demo left %d entries in the temporary folder (%s)", len(ents), ents[0].Name())
	}
	if !strings.Contains(log, "Removed the work folder "+tmp) || strings.Contains(log, "Everything is in") {
		t.Errorf("demo without --out does not say it removed its folder:\n%s", log)
	}

	log, err = runApp(t, "demo", "--repo", "../..", "--keep")
	if err != nil {
		t.Fatalf("demo --keep: %v\n%s", err, log)
	}
	kept, _ := filepath.Glob(filepath.Join(tmp, "plp-demo-*"))
	if len(kept) != 1 {
		t.Fatalf("demo --keep: %d work folders, want 1", len(kept))
	}
	if _, err := os.Stat(filepath.Join(kept[0], "probe", "ood_metrics.json")); err != nil {
		t.Errorf("kept folder lacks the reports: %v", err)
	}
	if !strings.Contains(log, "Everything is in "+kept[0]) || strings.Contains(log, "Removed") {
		t.Errorf("demo --keep does not say where its files are:\n%s", log)
	}
}
