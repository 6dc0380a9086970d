package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestManPage checks that the manual page names every command and flag, and that man(1) renders it when
// groff is installed.
func TestManPage(t *testing.T) {
	page, err := runPLP(t, "man")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page, ".TH PLP 1") {
		t.Fatalf("not a man page: %.80q", page)
	}
	for _, c := range leafCommands(newApp()) {
		path := strings.Join(commandPath(c), " ")
		if !strings.Contains(page, `.SS "plp `+roff(path)) {
			t.Errorf("no section for plp %s", path)
		}
		for _, f := range c.Flags {
			if n := f.Names()[0]; n != "help" && !strings.Contains(page, `\-\-`+roff(n)) {
				t.Errorf("plp %s --%s missing", path, n)
			}
		}
	}
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, ".T") && !strings.HasPrefix(line, ".S") &&
			!strings.HasPrefix(line, ".P") && !strings.HasPrefix(line, ".B") && !strings.HasPrefix(line, ".I") &&
			line != ".nf" && line != ".fi" {
			t.Errorf("stray roff request: %q", line)
		}
	}
	if _, err := exec.LookPath("groff"); err == nil {
		// -k runs preconv for the UTF-8 text, as man(1) does. Long lines of the no-fill descriptions may
		// not break on a narrow terminal; every other warning is a fault of the page.
		cmd := exec.Command("groff", "-k", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		out, err := cmd.CombinedOutput()
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.Contains(l, "can't break line") {
				t.Errorf("groff: %s", l)
			}
		}
		if err != nil {
			t.Errorf("groff: %v", err)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "complete", "zsh": "compdef", "fish": "complete -c plp"} {
		out, err := runPLP(t, "completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("plp completion %s: err %v, output lacks %q", shell, err, want)
		}
	}
}
