package report

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Default image size in pixels.
const (
	DefaultWidth  = 800
	DefaultHeight = 500
)

// maxPixels bounds the image size (an 8000 x 8000 RGBA image is 256 MB).
const maxPixels = 8000

// dpi is the resolution the plots are laid out at: fonts and line widths are sized in
// points, so a 800 x 500 image at 96 dpi reads like a screen figure.
const dpi = 96

// Series is one named line or set of points. X and Y have the same length. The
// optional YErr (symmetric error bars) and Low/High (a shaded band, e.g. the min and
// max over seeds) have that length too when given.
type Series struct {
	Name string
	X, Y []float64
	YErr []float64
	Low  []float64
	High []float64
}

func (s Series) validate(what string, i int) error {
	name := s.Name
	if name == "" {
		name = fmt.Sprintf("#%d", i)
	}
	if len(s.X) == 0 {
		return fmt.Errorf("report: %s: series %s has no points", what, name)
	}
	if len(s.Y) != len(s.X) {
		return fmt.Errorf("report: %s: series %s has %d x values and %d y values", what, name, len(s.X), len(s.Y))
	}
	check := func(field string, v []float64, optional bool) error {
		if optional && v == nil {
			return nil
		}
		if len(v) != len(s.X) {
			return fmt.Errorf("report: %s: series %s has %d %s values for %d points", what, name, len(v), field, len(s.X))
		}
		for j, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("report: %s: series %s: %s[%d] is %v", what, name, field, j, x)
			}
		}
		return nil
	}
	for _, c := range []struct {
		field    string
		v        []float64
		optional bool
	}{{"x", s.X, false}, {"y", s.Y, false}, {"y error", s.YErr, true}, {"low", s.Low, true}, {"high", s.High, true}} {
		if err := check(c.field, c.v, c.optional); err != nil {
			return err
		}
	}
	if (s.Low == nil) != (s.High == nil) {
		return fmt.Errorf("report: %s: series %s has only one side of its band (low and high go together)", what, name)
	}
	return nil
}

func (s Series) xys() plotter.XYs {
	xy := make(plotter.XYs, len(s.X))
	for i := range xy {
		xy[i].X, xy[i].Y = s.X[i], s.Y[i]
	}
	return xy
}

// Figure holds what every plot has: a title, axis labels and a size in pixels (zero
// means DefaultWidth x DefaultHeight).
type Figure struct {
	Title, XLabel, YLabel string
	Width, Height         int
}

func (f Figure) size() (int, int, error) {
	w, h := f.Width, f.Height
	if w == 0 && h == 0 {
		w, h = DefaultWidth, DefaultHeight
	}
	if w < 50 || h < 50 || w > maxPixels || h > maxPixels {
		return 0, 0, fmt.Errorf("report: image size %d x %d: each side must be 50..%d pixels", w, h, maxPixels)
	}
	return w, h, nil
}

func (f Figure) newPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// LinePlot is several named lines, each optionally with error bars or a band.
type LinePlot struct {
	Figure
	Series []Series
	// Points marks every data point with a glyph (useful for few points).
	Points bool
}

// ScatterPlot is several named sets of points.
type ScatterPlot struct {
	Figure
	Series []Series
}

// bandAlpha is the opacity of min/max bands: light enough to show the lines and
// overlapping bands of other series through.
const bandAlpha = 0x40

func (lp LinePlot) build() (*plot.Plot, error) {
	if len(lp.Series) == 0 {
		return nil, errors.New("report: line plot has no series")
	}
	p := lp.newPlot()
	// Bands first, so the lines are drawn over them.
	for i, s := range lp.Series {
		if err := s.validate("line plot", i); err != nil {
			return nil, err
		}
		if s.Low == nil {
			continue
		}
		outline := make(plotter.XYs, 0, 2*len(s.X))
		for j := range s.X {
			outline = append(outline, plotter.XY{X: s.X[j], Y: s.Low[j]})
		}
		for j := len(s.X) - 1; j >= 0; j-- {
			outline = append(outline, plotter.XY{X: s.X[j], Y: s.High[j]})
		}
		band, err := plotter.NewPolygon(outline)
		if err != nil {
			return nil, err
		}
		r, g, b, _ := plotutil.Color(i).RGBA()
		band.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), bandAlpha}
		band.LineStyle.Width = 0
		p.Add(band)
	}
	for i, s := range lp.Series {
		line, err := plotter.NewLine(s.xys())
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		var thumbs []plot.Thumbnailer = []plot.Thumbnailer{line}
		if lp.Points {
			pts, err := plotter.NewScatter(s.xys())
			if err != nil {
				return nil, err
			}
			pts.Color = plotutil.Color(i)
			pts.Shape = plotutil.Shape(i)
			p.Add(pts)
			thumbs = append(thumbs, pts)
		}
		if s.YErr != nil {
			errs := make(plotter.YErrors, len(s.YErr))
			for j, e := range s.YErr {
				errs[j].Low, errs[j].High = math.Abs(e), math.Abs(e)
			}
			bars, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{s.xys(), errs})
			if err != nil {
				return nil, err
			}
			bars.Color = plotutil.Color(i)
			p.Add(bars)
		}
		if s.Name != "" {
			p.Legend.Add(s.Name, thumbs...)
		}
	}
	pad(p, named(lp.Series))
	return p, nil
}

func (sp ScatterPlot) build() (*plot.Plot, error) {
	if len(sp.Series) == 0 {
		return nil, errors.New("report: scatter plot has no series")
	}
	p := sp.newPlot()
	for i, s := range sp.Series {
		if err := s.validate("scatter plot", i); err != nil {
			return nil, err
		}
		pts, err := plotter.NewScatter(s.xys())
		if err != nil {
			return nil, err
		}
		pts.Color = plotutil.Color(i)
		pts.Shape = filledShape(i)
		pts.Radius = vg.Points(3)
		p.Add(pts)
		if s.Name != "" {
			p.Legend.Add(s.Name, pts)
		}
	}
	pad(p, named(sp.Series))
	return p, nil
}

func named(series []Series) int {
	n := 0
	for _, s := range series {
		if s.Name != "" {
			n++
		}
	}
	return n
}

// filledShape gives scatter series solid glyphs (rings of one pixel vanish in a
// crowd), distinct per series.
func filledShape(i int) draw.GlyphDrawer {
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}}
	return shapes[i%len(shapes)]
}

// pad widens the axes a little beyond the data, so that points on the edge are not cut
// in half, and leaves headroom for the legend's entries in the top right corner.
func pad(p *plot.Plot, legendEntries int) {
	widen := func(a *plot.Axis, below, above float64) {
		d := a.Max - a.Min
		if d == 0 {
			d = math.Max(math.Abs(a.Max), 1)
		}
		a.Min -= below * d
		a.Max += above * d
	}
	widen(&p.X, 0.03, 0.03)
	widen(&p.Y, 0.03, 0.03+0.07*float64(legendEntries))
}

// render draws the plot onto an image of exactly w x h pixels.
func render(p *plot.Plot, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	return c.Image()
}

func writePNG(wr io.Writer, build func() (*plot.Plot, error), f Figure) error {
	w, h, err := f.size()
	if err != nil {
		return err
	}
	p, err := build()
	if err != nil {
		return err
	}
	return png.Encode(wr, render(p, w, h))
}

// WritePNG draws the plot as a PNG image of the figure's size.
func (lp LinePlot) WritePNG(w io.Writer) error { return writePNG(w, lp.build, lp.Figure) }

// SavePNG writes the PNG to path atomically. Bad input is reported before the file is
// touched.
func (lp LinePlot) SavePNG(path string) error { return savePNG(path, lp.build, lp.Figure) }

// WritePNG draws the plot as a PNG image of the figure's size.
func (sp ScatterPlot) WritePNG(w io.Writer) error { return writePNG(w, sp.build, sp.Figure) }

// SavePNG writes the PNG to path atomically. Bad input is reported before the file is
// touched.
func (sp ScatterPlot) SavePNG(path string) error { return savePNG(path, sp.build, sp.Figure) }

func savePNG(path string, build func() (*plot.Plot, error), f Figure) error {
	w, h, err := f.size()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	p, err := build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	img := render(p, w, h)
	return WriteFile(path, func(wr io.Writer) error { return png.Encode(wr, img) })
}
