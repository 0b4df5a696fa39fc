// Package progress reports the advance of long work: a live one-line bar
// when writing to a terminal, and plain log lines at a steady interval
// otherwise (CI logs, files, pipes).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bar tracks progress towards a total number of units.
type Bar struct {
	w        io.Writer
	live     bool
	label    string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
	now      func() time.Time
}

// New returns a bar writing to w. Whether w is a terminal decides between a
// live bar and log lines every interval.
func New(w io.Writer, label string, total int, interval time.Duration) *Bar {
	live := false
	if f, ok := w.(*os.File); ok {
		live = term.IsTerminal(int(f.Fd()))
	}
	b := &Bar{w: w, live: live, label: label, total: total, interval: interval, now: time.Now}
	b.start = b.now()
	b.last = b.start
	return b
}

// Update sets the number of finished units and a status text (e.g. the
// running loss), redrawing when due.
func (b *Bar) Update(done int, status string) {
	if b == nil || b.w == nil {
		return
	}
	b.done = done
	t := b.now()
	if b.live {
		if t.Sub(b.last) < 100*time.Millisecond && done < b.total {
			return
		}
		b.last = t
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(t, status, true))
		return
	}
	if t.Sub(b.last) >= b.interval {
		b.last = t
		fmt.Fprintln(b.w, b.line(t, status, false))
	}
}

// Finish ends a live bar's line.
func (b *Bar) Finish() {
	if b != nil && b.live {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// Elapsed is the time since the bar started.
func (b *Bar) Elapsed() time.Duration { return b.now().Sub(b.start) }

func (b *Bar) line(t time.Time, status string, bar bool) string {
	el := t.Sub(b.start)
	frac := 0.0
	if b.total > 0 {
		frac = float64(b.done) / float64(b.total)
	}
	eta := "?"
	if b.done > 0 && frac > 0 {
		eta = FormatDuration(time.Duration(float64(el) * (1 - frac) / frac))
	}
	var sb strings.Builder
	sb.WriteString(b.label)
	if bar {
		const width = 24
		n := int(frac * width)
		sb.WriteString(" [" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]")
	}
	fmt.Fprintf(&sb, " %d/%d %s elapsed %s ETA %s", b.done, b.total, status, FormatDuration(el), eta)
	return sb.String()
}

// FormatDuration prints durations the way people read them: 1h02m, 3m04s, 12.3s.
func FormatDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}
