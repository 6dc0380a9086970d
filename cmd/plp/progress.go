package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress reports a long loop's advance on w: redrawn in place on a terminal, a line every few seconds
// otherwise.
type progress struct {
	w           io.Writer
	label, unit string
	total       int
	tty         bool
	start, last time.Time
	drawn       bool
}

func newProgress(w io.Writer, label, unit string, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	return &progress{w: w, label: label, unit: unit, total: total, tty: tty, start: now, last: now}
}

// Update reports done units out of total, with extra text (e.g. the loss).
func (p *progress) Update(done int, extra string) {
	now := time.Now()
	every := 10 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every && done < p.total {
		return
	}
	p.last = now
	line := fmt.Sprintf("%s %d/%d %s", p.label, done, p.total, p.unit)
	if secs := now.Sub(p.start).Seconds(); secs > 0 && done > 0 {
		rate := float64(done) / secs
		eta := time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second)
		line += fmt.Sprintf(" %.1f %s/s ETA %s", rate, p.unit, eta)
	}
	if extra != "" {
		line += " " + extra
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Done ends the line on a terminal.
func (p *progress) Done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
