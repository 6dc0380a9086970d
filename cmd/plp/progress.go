package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"plp/data"
)

// progressBar draws a run's progress on w: a bar redrawn in place on a terminal, a plain line every
// progressEvery otherwise (log files, CI).
type progressBar struct {
	w        io.Writer
	label    string
	tty      bool
	last     time.Time
	lastLine data.Progress
	drawn    bool
	unit     string // what Done counts; "images" when empty
	extra    string // appended to each line, e.g. the current loss
}

const progressEvery = 10 * time.Second

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, label: label, tty: tty, last: time.Now()}
}

// update is data.EmbedOptions.Progress.
func (b *progressBar) update(p data.Progress) {
	b.lastLine = p
	now := time.Now()
	if b.tty {
		if now.Sub(b.last) < 100*time.Millisecond && p.Done < p.Total {
			return
		}
		b.last = now
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(p, true))
		b.drawn = true
		return
	}
	if now.Sub(b.last) >= progressEvery {
		b.last = now
		fmt.Fprintln(b.w, b.line(p, false))
	}
}

// finish ends the bar's line on a terminal.
func (b *progressBar) finish() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// line formats p: counts, percent, images/s of this run and the time left at that rate.
func (b *progressBar) line(p data.Progress, bar bool) string {
	frac := float64(p.Done) / float64(max(p.Total, 1))
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %d/%d %3.0f%%", b.label, p.Done, p.Total, 100*frac)
	if bar {
		const width = 30
		n := int(frac * width)
		sb.WriteString(" [" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]")
	}
	if secs := p.Elapsed.Seconds(); secs > 0 && p.Done > p.Resumed {
		rate := float64(p.Done-p.Resumed) / secs
		eta := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second)
		unit := b.unit
		if unit == "" {
			unit = "images"
		}
		fmt.Fprintf(&sb, " %.1f %s/s ETA %s", rate, unit, eta)
	}
	if p.Skipped > 0 {
		fmt.Fprintf(&sb, " (%d skipped)", p.Skipped)
	}
	if b.extra != "" {
		sb.WriteString(" " + b.extra)
	}
	return sb.String()
}
