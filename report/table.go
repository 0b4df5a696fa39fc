// Package report writes the results of evoprune's runs as tables (Markdown for
// documents, CSV for spreadsheets and scripts) and plots (PNG): fitness by generation,
// fitness against tree size, pruning curves. Files are written atomically (WriteFile),
// so a crash never leaves half a report.
package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Align is a Markdown column alignment.
type Align uint8

// Column alignments.
const (
	AlignDefault Align = iota // the renderer's default (left)
	AlignLeft
	AlignRight
	AlignCenter
)

// Table is a header and rows of cells, all rows as long as the header.
type Table struct {
	Header []string
	Rows   [][]string
	// Align gives each column's alignment in Markdown (optional; missing columns use
	// AlignDefault). CSV ignores it.
	Align []Align
}

// AddRow appends a row, formatting each cell with fmt's %v (floats as %.4g, so that
// tables of accuracies stay readable; pre-format cells as strings for other forms).
func (t *Table) AddRow(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case string:
			row[i] = v
		case float64:
			row[i] = fmt.Sprintf("%.4g", v)
		case float32:
			row[i] = fmt.Sprintf("%.4g", v)
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	t.Rows = append(t.Rows, row)
}

// Validate reports an empty header or a row whose length differs from the header's.
func (t *Table) Validate() error {
	if len(t.Header) == 0 {
		return errors.New("report: table has no header")
	}
	if len(t.Align) > len(t.Header) {
		return fmt.Errorf("report: table has %d alignments for %d columns", len(t.Align), len(t.Header))
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Header) {
			return fmt.Errorf("report: table row %d has %d cells, header has %d", i, len(r), len(t.Header))
		}
	}
	return nil
}

// mdCell escapes a cell for a Markdown table: pipes would end the cell and newlines
// the row.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r\n", "<br>")
	s = strings.ReplaceAll(s, "\n", "<br>")
	return s
}

// WriteMarkdown writes the table as a GitHub-flavoured Markdown table, columns padded
// to a common width so that the source reads as a table too.
func (t *Table) WriteMarkdown(w io.Writer) error {
	if err := t.Validate(); err != nil {
		return err
	}
	cols := len(t.Header)
	cells := make([][]string, 0, len(t.Rows)+1)
	for _, r := range append([][]string{t.Header}, t.Rows...) {
		esc := make([]string, cols)
		for j, c := range r {
			esc[j] = mdCell(c)
		}
		cells = append(cells, esc)
	}
	width := make([]int, cols)
	for j := range width {
		width[j] = 3 // the shortest delimiter, ---
		for _, r := range cells {
			width[j] = max(width[j], utf8.RuneCountInString(r[j]))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(r []string) {
		bw.WriteString("|")
		for j, c := range r {
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(c))
			if t.align(j) == AlignRight {
				bw.WriteString(" " + pad + c + " |")
			} else {
				bw.WriteString(" " + c + pad + " |")
			}
		}
		bw.WriteString("\n")
	}
	line(cells[0])
	bw.WriteString("|")
	for j := range width {
		d := strings.Repeat("-", width[j])
		switch t.align(j) {
		case AlignLeft:
			d = ":" + d[1:]
		case AlignRight:
			d = d[1:] + ":"
		case AlignCenter:
			d = ":" + d[2:] + ":"
		}
		bw.WriteString(" " + d + " |")
	}
	bw.WriteString("\n")
	for _, r := range cells[1:] {
		line(r)
	}
	return bw.Flush()
}

func (t *Table) align(j int) Align {
	if j < len(t.Align) {
		return t.Align[j]
	}
	return AlignDefault
}

// WriteCSV writes the header and rows as RFC 4180 CSV (encoding/csv quotes cells with
// commas, quotes or newlines).
func (t *Table) WriteCSV(w io.Writer) error {
	if err := t.Validate(); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Header); err != nil {
		return err
	}
	if err := cw.WriteAll(t.Rows); err != nil {
		return err
	}
	return cw.Error()
}

// SaveMarkdown writes the Markdown table to path atomically.
func (t *Table) SaveMarkdown(path string) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFile(path, t.WriteMarkdown)
}

// SaveCSV writes the CSV table to path atomically.
func (t *Table) SaveCSV(path string) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFile(path, t.WriteCSV)
}

// WriteFile writes a file atomically: write fills a temporary file in path's directory,
// which is synced and renamed over path only if write succeeds, so readers see the old
// file or the complete new one, never a part. On failure the temporary file is removed
// and path is untouched.
func WriteFile(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err = write(bw); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a report is meant to be read by others.
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}
