package eval

import (
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const plotWidth, plotHeight = 6 * vg.Inch, 4.5 * vg.Inch

// PlotROC draws the ROC curve of the ID scores against each OOD set (sorted by name, AUROC in the
// legend) and writes base+".png" and base+".svg".
func PlotROC[S Score](base, title string, id []S, ood map[string][]S) error {
	if len(ood) == 0 {
		return fmt.Errorf("eval: ROC plot %s: no OOD sets", base)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "false positive rate (OOD accepted)"
	p.Y.Label.Text = "true positive rate (ID accepted)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top = false
	p.Legend.Left = false

	chance, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	chance.Color = color.Gray{Y: 160}
	chance.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(chance)

	for i, name := range slices.Sorted(maps.Keys(ood)) {
		c, err := binaryCurve(id, ood[name])
		if err != nil {
			return fmt.Errorf("eval: ROC plot %s: %s: %w", base, name, err)
		}
		r := c.roc()
		xy := make(plotter.XYs, len(r.FPR))
		for k := range xy {
			xy[k].X, xy[k].Y = r.FPR[k], r.TPR[k]
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (AUROC %.2f)", name, r.area()*100), l)
	}
	return savePlot(p, base)
}

// PlotHistogram draws density histograms of the ID and one OOD set's scores on shared bins (bins <= 0
// means 50) and writes base+".png" and base+".svg".
func PlotHistogram[S Score](base, title, idName string, id []S, oodName string, ood []S, bins int) error {
	if bins <= 0 {
		bins = 50
	}
	if len(id) == 0 || len(ood) == 0 {
		return fmt.Errorf("eval: histogram %s: empty score set", base)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, set := range [][]S{id, ood} {
		for i, v := range set {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("eval: histogram %s: score %d is %v", base, i, f)
			}
			lo, hi = min(lo, f), max(hi, f)
		}
	}
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5
	}
	width := (hi - lo) / float64(bins)

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "score (higher = more in-distribution)"
	p.Y.Label.Text = "density"
	p.Legend.Top = true
	p.Legend.Left = true // ID scores pile up on the right
	for i, set := range []struct {
		name   string
		scores []S
		fill   color.NRGBA
	}{
		{idName, id, color.NRGBA{R: 31, G: 119, B: 180, A: 140}},
		{oodName, ood, color.NRGBA{R: 255, G: 127, B: 14, A: 140}},
	} {
		h := &plotter.Histogram{Bins: make([]plotter.HistogramBin, bins), Width: width, FillColor: set.fill}
		h.LineStyle = draw.LineStyle{Color: color.NRGBA{R: set.fill.R, G: set.fill.G, B: set.fill.B, A: 255}, Width: vg.Points(0.5)}
		for b := range h.Bins {
			h.Bins[b].Min = lo + float64(b)*width
			h.Bins[b].Max = lo + float64(b+1)*width
		}
		for _, v := range set.scores {
			b := min(int((float64(v)-lo)/width), bins-1)
			h.Bins[b].Weight++
		}
		for b := range h.Bins {
			h.Bins[b].Weight /= float64(len(set.scores)) * width
		}
		p.Add(h)
		name := set.name
		if name == "" {
			name = []string{"ID", "OOD"}[i]
		}
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", name, len(set.scores)), h)
	}
	return savePlot(p, base)
}

// savePlot writes the plot as base.png and base.svg.
func savePlot(p *plot.Plot, base string) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(plotWidth, plotHeight, base+ext); err != nil {
			return fmt.Errorf("eval: writing %s%s: %w", base, ext, err)
		}
	}
	return nil
}
