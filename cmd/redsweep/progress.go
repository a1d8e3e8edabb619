package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// isTerminal reports whether w is a character device: progress is for
// people at a terminal, never for cron mail or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressSnapshot is what the bar shows.
type progressSnapshot struct {
	done, total, open, flagged int64
}

// progressBar redraws one status line on w every interval until stopped.
type progressBar struct {
	w       io.Writer
	read    func() progressSnapshot
	started time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startProgress(w io.Writer, enabled bool, read func() progressSnapshot) *progressBar {
	p := &progressBar{w: w, read: read, started: time.Now(), stop: make(chan struct{})}
	if !enabled {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return p
}

func (p *progressBar) draw(final bool) {
	s := p.read()
	elapsed := time.Since(p.started).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.done) / elapsed
	}
	const width = 30
	bar := strings.Repeat("-", width)
	pct := 0.0
	if s.total > 0 {
		pct = float64(s.done) / float64(s.total)
		if pct > 1 {
			pct = 1
		}
		n := int(pct * width)
		bar = strings.Repeat("=", n) + strings.Repeat("-", width-n)
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d %5.1f%%  %.0f/s  open %d  flagged %d ", bar, s.done, s.total, pct*100, rate, s.open, s.flagged)
	if final {
		fmt.Fprintln(p.w)
	}
}

// Stop draws the last state (when enabled) and returns once the bar is gone.
func (p *progressBar) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}
