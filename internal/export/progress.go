package export

import (
	"fmt"
	"io"
	"time"
)

// progress prints a line about the table being written at most every
// interval, and one when it is done, e.g.
//
//	export: acks 350000 rows (120000 rows/s)
type progress struct {
	w        io.Writer // nil: silent
	prefix   string    // "export" unless set
	every    time.Duration
	table    string
	start    time.Time
	last     time.Time
	rows     int64
	bytes    int64
	sinceChk int
}

func newProgress(w io.Writer, every time.Duration, table string) *progress {
	now := time.Now()
	return &progress{w: w, prefix: "export", every: every, table: table, start: now, last: now}
}

// row counts one written row; it looks at the clock every 1024 rows.
func (p *progress) row() {
	p.rows++
	if p.sinceChk++; p.sinceChk < 1024 {
		return
	}
	p.sinceChk = 0
	p.maybePrint()
}

// wrote counts bytes written by a writer that does not see rows (COPY).
func (p *progress) wrote(n int) {
	p.bytes += int64(n)
	if p.sinceChk++; p.sinceChk < 64 {
		return
	}
	p.sinceChk = 0
	p.maybePrint()
}

func (p *progress) maybePrint() {
	if p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
	if p.rows > 0 {
		fmt.Fprintf(p.w, "%s: %s %d rows (%.0f rows/s)\n", p.prefix, p.table, p.rows, float64(p.rows)/secs)
		return
	}
	mib := float64(p.bytes) / (1 << 20)
	fmt.Fprintf(p.w, "%s: %s %.1f MiB (%.1f MiB/s)\n", p.prefix, p.table, mib, mib/secs)
}

// done prints the table's final line with its exact row count.
func (p *progress) done(rows, bytes int64) {
	if p.w == nil {
		return
	}
	d := time.Since(p.start)
	rate := float64(rows) / max(d.Seconds(), 1e-9)
	fmt.Fprintf(p.w, "%s: %s %d rows, %d bytes in %s (%.0f rows/s)\n",
		p.prefix, p.table, rows, bytes, d.Round(time.Millisecond), rate)
}
