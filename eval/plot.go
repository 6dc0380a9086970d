package eval

import (
	"fmt"
	"image/color"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"plp/atomicfile"
)

const (
	plotWidth, plotHeight = 6 * vg.Inch, 4.5 * vg.Inch
	// plotMargin is the white border around every figure, so that no title, tick label or legend
	// touches the image's edge.
	plotMargin = 0.2 * vg.Inch
	// legendGap separates the x-axis label from the legend below it.
	legendGap = 0.1 * vg.Inch
	// pngDPI gives 900×675 pixel PNGs, legible when shown at full width.
	pngDPI = 150
)

// PlotROC draws the ROC curve of the ID scores against each OOD set (sorted by name, AUROC in the
// legend below the axes) and writes base+".png" and base+".svg".
func PlotROC[S Score](base, title string, id []S, ood map[string][]S) error {
	if len(ood) == 0 {
		return fmt.Errorf("eval: ROC plot %s: no OOD sets", base)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "false positive rate (OOD accepted)"
	p.Y.Label.Text = "true positive rate (ID accepted)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.X.Tick.Marker = unitTicks{}
	p.Y.Tick.Marker = unitTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = color.Gray{Y: 225}, color.Gray{Y: 225}
	p.Add(grid)
	legend := plot.NewLegend()

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
		legend.Add(fmt.Sprintf("%s (AUROC %.2f)", name, r.area()*100), l)
	}
	return savePlot(p, legend, base)
}

// PlotHistogram draws density histograms of the ID and one OOD set's scores on shared bins (bins <= 0
// means 50), with the legend below the axes so that it never covers a bar, and writes base+".png" and
// base+".svg".
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
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	legend := plot.NewLegend()
	top := 0.0
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
			top = max(top, h.Bins[b].Weight)
		}
		p.Add(h)
		name := set.name
		if name == "" {
			name = []string{"ID", "OOD"}[i]
		}
		legend.Add(fmt.Sprintf("%s (n=%d)", name, len(set.scores)), h)
	}
	// Headroom above the tallest bar, so that it does not touch the frame.
	p.Y.Min, p.Y.Max = 0, top*1.05
	return savePlot(p, legend, base)
}

// niceTicks marks about six round values (steps of 1, 2 or 5 times a power of ten) with labels of as
// many decimals as the step needs, and four minor ticks between labels.
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 5
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{2, 5, 10} {
		if step*1.5 >= raw {
			break
		}
		step = math.Pow(10, math.Floor(math.Log10(raw))) * m
	}
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	var ts []plot.Tick
	minor := step / 5
	for k := math.Ceil(lo / minor); k*minor <= hi+minor*1e-9; k++ {
		v := k * minor
		t := plot.Tick{Value: v}
		if r := math.Round(v / step); math.Abs(v/step-r) < 1e-6 {
			t.Label = strconv.FormatFloat(r*step, 'f', decimals, 64)
		}
		ts = append(ts, t)
	}
	return ts
}

// figureLayout splits a figure's canvas into the plot's area and the legend's band below it: a white
// margin on every side, the legend's entries centred at the bottom, legendGap above them.
func figureLayout(whole draw.Canvas, legend *plot.Legend) (plotC, legendC draw.Canvas) {
	c := draw.Crop(whole, plotMargin, -plotMargin, plotMargin, -plotMargin)
	lr := legend.Rectangle(c)
	lw, lh := lr.Max.X-lr.Min.X, lr.Max.Y-lr.Min.Y
	if lh <= 0 {
		return c, draw.Crop(c, 0, 0, 0, -(c.Max.Y - c.Min.Y))
	}
	// Legend.Draw puts the last entry's text baseline at the band's bottom: leave room for descenders.
	lh += legend.TextStyle.FontExtents().Descent
	legendC = c
	legendC.Max.Y = c.Min.Y + lh
	legendC.Min.X += max(0, (c.Max.X-c.Min.X-lw)/2)
	return draw.Crop(c, 0, 0, lh+legendGap, 0), legendC
}

// unitTicks marks [0, 1] every 0.1, labelled every 0.2.
type unitTicks struct{}

// Ticks implements plot.Ticker.
func (unitTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for i := 0; i <= 10; i++ {
		v := float64(i) / 10
		if v < lo || v > hi {
			continue
		}
		t := plot.Tick{Value: v}
		if i%2 == 0 {
			t.Label = fmt.Sprintf("%.1f", v)
		}
		ts = append(ts, t)
	}
	return ts
}

// savePlot writes the plot as base.png and base.svg (each written whole or not at all), with a white
// margin and the legend in a band of its own below the axes, centred.
func savePlot(p *plot.Plot, legend plot.Legend, base string) error {
	return savePlotSize(p, legend, base, plotWidth, plotHeight)
}

// savePlotSize is savePlot for a figure of the given size.
func savePlotSize(p *plot.Plot, legend plot.Legend, base string, width, height vg.Length) error {
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(3)
	for _, f := range []struct {
		ext    string
		canvas func() vg.CanvasWriterTo
	}{
		{".png", func() vg.CanvasWriterTo {
			return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(pngDPI),
				vgimg.UseBackgroundColor(color.White))}
		}},
		{".svg", func() vg.CanvasWriterTo { return vgsvg.New(width, height) }},
	} {
		cw := f.canvas()
		whole := draw.New(cw)
		whole.SetColor(color.White)
		whole.Fill(whole.Rectangle.Path())
		plotC, legendC := figureLayout(whole, &legend)
		legend.Draw(legendC)
		p.Draw(plotC)
		if err := atomicfile.Write(base+f.ext, func(w io.Writer) error {
			_, err := cw.WriteTo(w)
			return err
		}); err != nil {
			return fmt.Errorf("eval: writing %s%s: %w", base, f.ext, err)
		}
	}
	return nil
}
