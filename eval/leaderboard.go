package eval

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// standing is one method's row of a leaderboard: its AUROC and FPR95 per OOD set and their means.
type standing struct {
	label                string
	auroc, fpr95         map[string]float64
	meanAUROC, meanFPR95 float64
}

// standings groups the records of one ID set by method label, in order of decreasing mean AUROC (ties:
// label order), and returns the OOD sets in order of first appearance.
func standings(records []Record) ([]standing, []string, error) {
	var sets []string
	byLabel := map[string]*standing{}
	var order []string
	for _, r := range records {
		if !slices.Contains(sets, r.OOD) {
			sets = append(sets, r.OOD)
		}
		l := r.Label()
		s, ok := byLabel[l]
		if !ok {
			s = &standing{label: l, auroc: map[string]float64{}, fpr95: map[string]float64{}}
			byLabel[l] = s
			order = append(order, l)
		}
		if _, dup := s.auroc[r.OOD]; dup {
			return nil, nil, fmt.Errorf("eval: two records for %s on %s vs %s", l, r.ID, r.OOD)
		}
		s.auroc[r.OOD], s.fpr95[r.OOD] = r.AUROC, r.FPR95
	}
	out := make([]standing, 0, len(order))
	for _, l := range order {
		s := byLabel[l]
		for _, set := range sets {
			s.meanAUROC += s.auroc[set]
			s.meanFPR95 += s.fpr95[set]
		}
		// Means over the sets the method was scored on.
		s.meanAUROC /= float64(len(s.auroc))
		s.meanFPR95 /= float64(len(s.fpr95))
		out = append(out, *s)
	}
	slices.SortStableFunc(out, func(a, b standing) int { return cmp.Compare(b.meanAUROC, a.meanAUROC) })
	return out, sets, nil
}

// byID splits records by ID set, in order of first appearance.
func byID(records []Record) ([]string, map[string][]Record) {
	var ids []string
	m := map[string][]Record{}
	for _, r := range records {
		if _, ok := m[r.ID]; !ok {
			ids = append(ids, r.ID)
		}
		m[r.ID] = append(m[r.ID], r)
	}
	return ids, m
}

// WriteLeaderboard writes, per ID set, a table with one row per method label (sorted by mean AUROC,
// best first) and an AUROC and FPR95 column per OOD set plus their means, in percent with two decimals;
// the best value of each column (highest AUROC, lowest FPR95) is bold, every tie included. A method not
// scored on a set shows "–" there.
func WriteLeaderboard(w io.Writer, records []Record) error {
	ids, groups := byID(records)
	var sb strings.Builder
	for n, id := range ids {
		if n > 0 {
			sb.WriteString("\n")
		}
		rows, sets, err := standings(groups[id])
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "Leaderboard, ID: %s (sorted by mean AUROC; best per column in bold)\n\n| method |", escapeCell(id))
		for _, s := range sets {
			fmt.Fprintf(&sb, " %s AUROC ↑ | %s FPR95 ↓ |", escapeCell(s), escapeCell(s))
		}
		sb.WriteString(" mean AUROC ↑ | mean FPR95 ↓ |\n|---|")
		sb.WriteString(strings.Repeat("---:|", 2*len(sets)+2))
		sb.WriteString("\n")
		type column struct {
			get    func(standing) (float64, bool)
			higher bool
		}
		var cols []column
		for _, s := range sets {
			cols = append(cols,
				column{func(r standing) (float64, bool) { v, ok := r.auroc[s]; return v, ok }, true},
				column{func(r standing) (float64, bool) { v, ok := r.fpr95[s]; return v, ok }, false})
		}
		cols = append(cols,
			column{func(r standing) (float64, bool) { return r.meanAUROC, true }, true},
			column{func(r standing) (float64, bool) { return r.meanFPR95, true }, false})
		// The best value of a column as printed, so that a bold cell never differs from its rivals
		// only beyond the second decimal.
		best := make([]string, len(cols))
		for c, col := range cols {
			first := true
			var b float64
			for _, r := range rows {
				v, ok := col.get(r)
				if !ok {
					continue
				}
				if first || (col.higher && v > b) || (!col.higher && v < b) {
					b, first = v, false
				}
			}
			if !first {
				best[c] = fmt.Sprintf("%.2f", b)
			}
		}
		for _, r := range rows {
			fmt.Fprintf(&sb, "| %s |", escapeCell(r.label))
			for c, col := range cols {
				v, ok := col.get(r)
				switch s := fmt.Sprintf("%.2f", v); {
				case !ok:
					sb.WriteString(" – |")
				case s == best[c]:
					fmt.Fprintf(&sb, " **%s** |", s)
				default:
					fmt.Fprintf(&sb, " %s |", s)
				}
			}
			sb.WriteString("\n")
		}
		if note := reluNote(groups[id]); note != "" {
			sb.WriteString("\n" + note + "\n")
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// reluNote warns, when records of methods that assume post-ReLU features are present, that CLIP-style
// embeddings break that assumption.
func reluNote(records []Record) string {
	var names []string
	for _, r := range records {
		if m, err := LookupMethod(r.Method); err == nil && m.ReLU && !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	verb := " assume"
	if len(names) == 1 {
		verb = " assumes"
	}
	return "Note: " + strings.Join(names, ", ") + verb + " non-negative (post-ReLU) features, as the penultimate layer of " +
		"a ResNet has; CLIP embeddings and their standardised form take negative values, so these scores are " +
		"computed as published but their premise does not hold here."
}

// PlotLeaderboard draws a horizontal bar per method label of one ID set's records with its mean AUROC
// over the OOD sets, best at the top, and writes base+".png" and base+".svg". The figure grows with
// the number of methods so that every label stays legible.
func PlotLeaderboard(base, title string, records []Record) error {
	rows, _, err := standings(records)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("eval: leaderboard plot %s: no records", base)
	}
	// Bars are drawn bottom-up: reverse so that the best method is the top bar.
	values := make(plotter.Values, len(rows))
	labels := make([]string, len(rows))
	for i, r := range rows {
		values[len(rows)-1-i] = r.meanAUROC
		labels[len(rows)-1-i] = r.label
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "mean AUROC over the OOD sets (%)"
	bars, err := plotter.NewBarChart(values, vg.Points(10))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	bars.Color = color.NRGBA{R: 31, G: 119, B: 180, A: 255}
	bars.LineStyle.Width = 0
	grid := plotter.NewGrid()
	grid.Horizontal.Color, grid.Vertical.Color = nil, color.Gray{Y: 225}
	p.Add(grid, bars)
	p.NominalY(labels...)
	// The axis starts at a round value below the worst method (bars grow from 0, which would hide the
	// differences), and the nominal axis keeps half a bar of room above and below.
	lo := 100.0
	for _, v := range values {
		lo = min(lo, v)
	}
	p.X.Min, p.X.Max = max(0, math.Floor(lo/10)*10-5), 100
	p.X.Tick.Marker = niceTicks{}
	p.Y.Min, p.Y.Max = -0.7, float64(len(rows))-0.3
	height := max(plotHeight, vg.Points(14)*vg.Length(len(rows))+1.5*vg.Inch)
	longest := 0
	for _, l := range labels {
		longest = max(longest, len([]rune(l)))
	}
	width := max(plotWidth, vg.Points(5.5)*vg.Length(longest)+4*vg.Inch)
	return savePlotSize(p, plot.NewLegend(), base, width, height)
}
