package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "epoch 1", 10, time.Second)
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(500 * time.Millisecond)
	b.Update(1, "loss 2.0")
	if buf.Len() != 0 {
		t.Fatalf("logged before the interval: %q", buf.String())
	}
	clock = clock.Add(1500 * time.Millisecond)
	b.Update(5, "loss 1.0")
	got := buf.String()
	if !strings.Contains(got, "epoch 1 5/10 loss 1.0 elapsed 2.0s ETA 2.0s") {
		t.Fatalf("got %q", got)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12300 * time.Millisecond:      "12.3s",
		3*time.Minute + 4*time.Second: "3m04s",
		62 * time.Minute:              "1h02m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("%v: %q want %q", d, got, want)
		}
	}
}
