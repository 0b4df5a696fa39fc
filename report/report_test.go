package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotutil"
)

func sampleTable() Table {
	t := Table{
		Header: []string{"function", "fitness", "note"},
		Align:  []Align{AlignDefault, AlignRight, AlignCenter},
	}
	t.AddRow("abs_snr", 0.91, "seed")
	t.AddRow("a|b", "0.5", "two\nlines")
	t.AddRow("σ²", 1, "")
	return t
}

// TestMarkdownGolden: widths count runes, pipes and newlines are escaped, alignments
// show in the delimiter row and right-aligned cells are padded on the left. The
// expected text was written by hand.
func TestMarkdownGolden(t *testing.T) {
	tab := sampleTable()
	var b bytes.Buffer
	if err := tab.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"| function | fitness | note         |\n" +
		"| -------- | ------: | :----------: |\n" +
		"| abs_snr  |    0.91 | seed         |\n" +
		"| a\\|b     |     0.5 | two<br>lines |\n" +
		"| σ²       |       1 |              |\n"
	if b.String() != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", b.String(), want)
	}
	// AddRow formats floats to 4 significant digits.
	var u Table
	u.AddRow(2.0/3, float32(0.125), 12345.678, 7)
	if got := u.Rows[0]; !reflect.DeepEqual(got, []string{"0.6667", "0.125", "1.235e+04", "7"}) {
		t.Errorf("AddRow cells %q", got)
	}
}

// TestCSVRoundTrip: what WriteCSV writes, encoding/csv reads back cell for cell,
// including commas, quotes, newlines and surrounding spaces.
func TestCSVRoundTrip(t *testing.T) {
	tab := Table{Header: []string{"expr", "fitness, %", `say "hi"`}}
	tab.Rows = [][]string{
		{"add(var(P), var(Q))", " 93.5 ", "a\nb"},
		{`"quoted"`, "", "x,y,z"},
	}
	var b bytes.Buffer
	if err := tab.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := append([][]string{tab.Header}, tab.Rows...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %q, want %q", got, want)
	}
}

// TestTableErrors: an empty header or a ragged row is an error that says where.
func TestTableErrors(t *testing.T) {
	var b bytes.Buffer
	if err := (&Table{}).WriteMarkdown(&b); err == nil || !strings.Contains(err.Error(), "no header") {
		t.Errorf("empty table: %v", err)
	}
	ragged := Table{Header: []string{"a", "b"}, Rows: [][]string{{"1", "2"}, {"3"}}}
	for name, write := range map[string]func(io.Writer) error{"markdown": ragged.WriteMarkdown, "csv": ragged.WriteCSV} {
		if err := write(&b); err == nil || !strings.Contains(err.Error(), "row 1 has 1 cells, header has 2") {
			t.Errorf("%s of a ragged table: %v", name, err)
		}
	}
	if err := ragged.SaveCSV(filepath.Join(t.TempDir(), "x.csv")); err == nil || !strings.Contains(err.Error(), "x.csv") {
		t.Errorf("SaveCSV error does not name the file: %v", err)
	}
}

// TestWriteFileAtomic: a successful write replaces the file; a failed one leaves the old
// content and no temporary file behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "table.md")
	tab := sampleTable()
	if err := tab.SaveMarkdown(path); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	tab.WriteMarkdown(&want)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %q", got)
	}
	boom := errors.New("boom")
	err := WriteFile(path, func(w io.Writer) error {
		io.WriteString(w, "half a file")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("failed write changed the file to %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(entries))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countColor counts pixels of exactly color c.
func countColor(img image.Image, c color.Color) int {
	r0, g0, b0, _ := c.RGBA()
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == r0>>8 && g>>8 == g0>>8 && b>>8 == b0>>8 {
				n++
			}
		}
	}
	return n
}

// TestPlotsPNG: the fitness, pruning-curve and scatter plots decode as PNG of the asked
// size, and each series' colour is actually drawn.
func TestPlotsPNG(t *testing.T) {
	dir := t.TempDir()
	var gens []GenerationFitness
	for g := 0; g < 10; g++ {
		vals := []float64{0.5 + 0.03*float64(g), 0.4, 0.45 + 0.01*float64(g), 0}
		s, err := SummariseGeneration(g, vals)
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, s)
	}
	fit, err := FitnessByGeneration("fitness", gens)
	if err != nil {
		t.Fatal(err)
	}
	fit.Width, fit.Height = 640, 360
	curves := PruningCurves("ResNet-20", []Series{
		{Name: "l1", X: []float64{100, 80, 60, 40}, Y: []float64{91, 90.5, 89, 85}, YErr: []float64{0.1, 0.3, 0.4, 0.8}},
		{Name: "eq3", X: []float64{100, 80, 60, 40}, Y: []float64{91, 90.8, 89.9, 87}, Low: []float64{91, 90.5, 89.5, 86}, High: []float64{91, 91, 90.2, 88}},
	})
	curves.Width, curves.Height = 500, 500
	scatter, err := FitnessVsSize("fitness vs size", []int{3, 4, 7, 12, 12, 30}, []float64{0.9, 0.91, 0.85, 0.7, 0.95, 0.1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		save   func(string) error
		w, h   int
		series int
	}{
		{"fitness.png", fit.SavePNG, 640, 360, 2},
		{"curves.png", curves.SavePNG, 500, 500, 2},
		{"scatter.png", scatter.SavePNG, DefaultWidth, DefaultHeight, 1},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if err := c.save(path); err != nil {
			t.Fatal(err)
		}
		img := decodePNG(t, path)
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%s is %d x %d, want %d x %d", c.name, b.Dx(), b.Dy(), c.w, c.h)
		}
		if r, g, b, _ := img.At(1, 1).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
			t.Errorf("%s: the corner is not white: no white background", c.name)
		}
		for i := 0; i < c.series; i++ {
			if n := countColor(img, plotutil.Color(i)); n < 20 {
				t.Errorf("%s: series %d's colour drawn on %d pixels", c.name, i, n)
			}
		}
	}
	// WritePNG writes the same image SavePNG saves.
	var b bytes.Buffer
	if err := fit.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	if saved, _ := os.ReadFile(filepath.Join(dir, "fitness.png")); !bytes.Equal(saved, b.Bytes()) {
		t.Error("WritePNG and SavePNG differ")
	}
}

// TestPlotErrors: empty or inconsistent input is a clear error, and no file appears.
func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	ok := Series{Name: "a", X: []float64{1, 2}, Y: []float64{3, 4}}
	cases := []struct {
		plot interface{ SavePNG(string) error }
		want string
	}{
		{LinePlot{}, "line plot has no series"},
		{ScatterPlot{}, "scatter plot has no series"},
		{LinePlot{Series: []Series{{Name: "empty"}}}, "series empty has no points"},
		{LinePlot{Series: []Series{ok, {X: []float64{1}, Y: []float64{1, 2}}}}, "series #1 has 1 x values and 2 y values"},
		{LinePlot{Series: []Series{{Name: "n", X: []float64{1, 2}, Y: []float64{1, math.NaN()}}}}, "y[1] is NaN"},
		{LinePlot{Series: []Series{{Name: "e", X: []float64{1, 2}, Y: []float64{1, 2}, YErr: []float64{1}}}}, "1 y error values for 2 points"},
		{LinePlot{Series: []Series{{Name: "b", X: []float64{1}, Y: []float64{1}, Low: []float64{0}}}}, "only one side of its band"},
		{ScatterPlot{Series: []Series{{Name: "i", X: []float64{math.Inf(1)}, Y: []float64{1}}}}, "x[0] is +Inf"},
		{LinePlot{Figure: Figure{Width: 10, Height: 10}, Series: []Series{ok}}, "image size 10 x 10"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "p.png")
		err := c.plot.SavePNG(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.png") {
			t.Errorf("case %d: want error containing %q and the file name, got %v", i, c.want, err)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Fatalf("case %d: a file was written", i)
		}
	}
	if _, err := FitnessByGeneration("x", nil); err == nil {
		t.Error("no generations accepted")
	}
	if _, err := SummariseGeneration(3, nil); err == nil || !strings.Contains(err.Error(), "generation 3") {
		t.Errorf("empty generation: %v", err)
	}
	if _, err := SummariseGeneration(1, []float64{1, math.NaN()}); err == nil {
		t.Error("NaN fitness accepted")
	}
	if _, err := FitnessVsSize("x", []int{1}, nil); err == nil {
		t.Error("mismatched sizes accepted")
	}
}

// TestSummariseAndTable: the summary of a hand-computed generation and its table row.
func TestSummariseAndTable(t *testing.T) {
	g, err := SummariseGeneration(2, []float64{0.5, 0.25, 0.75, 0})
	if err != nil {
		t.Fatal(err)
	}
	if g.Best != 0.75 || g.Mean != 0.375 || g.Min != 0 || g.Max != 0.75 {
		t.Errorf("summary %+v", g)
	}
	g.Evaluated, g.Failures = 4, 1
	tab := GenerationTable([]GenerationFitness{g})
	if want := []string{"2", "0.75", "0.375", "0", "0.75", "4", "1"}; !reflect.DeepEqual(tab.Rows[0], want) {
		t.Errorf("row %q, want %q", tab.Rows[0], want)
	}
}
