package demo

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints a status line while a long step runs: rewritten in
// place on a terminal, a new line every few seconds otherwise (a log file,
// a test buffer).
type progress struct {
	w    io.Writer
	tty  bool
	line func() string
	stop chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts printing line() to w until done is called. A nil w
// prints nothing.
func startProgress(w io.Writer, line func() string) *progress {
	p := &progress{w: w, tty: isTerminal(w), line: line, stop: make(chan struct{})}
	if w == nil {
		return p
	}
	every := 2 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.print(p.line(), false)
			}
		}
	})
	return p
}

// done stops the ticker and prints the final line.
func (p *progress) done(final string) {
	close(p.stop)
	p.wg.Wait()
	if p.w != nil {
		p.print(final, true)
	}
}

func (p *progress) print(s string, final bool) {
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%s\033[K\n", s)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\033[K", s)
	default:
		fmt.Fprintln(p.w, s)
	}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
