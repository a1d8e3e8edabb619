package passive

import (
	"fmt"
	"net/netip"
	"time"

	"redsweep/triage"
)

// fanout finds sources opening TCP connections to many distinct
// destinations on a worm's port within a short window (worm-fanout).
//
// Memory is bounded: per source at most FanoutThreshold (destination, time)
// pairs — once a source holds that many it is over the threshold, and a new
// destination replaces the oldest — and at most MaxFanoutSources sources;
// sources idle for a whole window are forgotten.
type fanout struct {
	e          *engine
	threshold  int
	window     time.Duration
	maxSources int
	src        map[netip.Addr]*fanSrc
}

type fanSrc struct {
	dsts []fanDst
	last time.Time
}

type fanDst struct {
	addr    netip.Addr
	at      time.Time
	counted bool // already in the evidence count
}

func newFanout(opt CaptureOptions, e *engine) *fanout {
	return &fanout{e: e, threshold: opt.FanoutThreshold, window: opt.FanoutWindow,
		maxSources: opt.MaxFanoutSources, src: make(map[netip.Addr]*fanSrc)}
}

// syn records one connection attempt (SYN without ACK) from src to dst.
//
// Evidence: once a source holds FanoutThreshold distinct destinations seen
// within FanoutWindow, every SYN it sent to those destinations and every
// further SYN while it stays at the threshold counts (Count = SYNs, and
// DistinctTargets = their distinct destinations, capped).
func (f *fanout) syn(src, dst netip.Addr, ts time.Time) {
	s := f.src[src]
	if s == nil {
		if len(f.src) >= f.maxSources {
			f.expire(ts)
			if len(f.src) >= f.maxSources {
				f.e.st.FanoutDropped++
				return
			}
		}
		s = &fanSrc{dsts: make([]fanDst, 0, 4)}
		f.src[src] = s
	}
	if ts.After(s.last) {
		s.last = ts
	}
	// Drop destinations older than the window (in place).
	kept := s.dsts[:0]
	for _, d := range s.dsts {
		if ts.Sub(d.at) < f.window {
			kept = append(kept, d)
		}
	}
	s.dsts = kept
	idx := -1
	for i := range s.dsts {
		if s.dsts[i].addr == dst {
			idx = i
			if ts.After(s.dsts[i].at) {
				s.dsts[i].at = ts
			}
			break
		}
	}
	if idx < 0 {
		if len(s.dsts) < f.threshold {
			s.dsts = append(s.dsts, fanDst{addr: dst, at: ts})
			idx = len(s.dsts) - 1
		} else {
			oldest := 0
			for i := range s.dsts {
				if s.dsts[i].at.Before(s.dsts[oldest].at) {
					oldest = i
				}
			}
			s.dsts[oldest] = fanDst{addr: dst, at: ts}
			idx = oldest
		}
	} else {
		s.dsts[idx].counted = false // a repeated SYN (retry) counts again
	}
	if len(s.dsts) < f.threshold {
		return
	}
	sample := []byte(fmt.Sprintf("%s sent SYNs to %d distinct hosts on port %d within %s", src, len(s.dsts), f.e.tcp.DstPort, f.window))
	for i := range s.dsts {
		d := &s.dsts[i]
		if !d.counted {
			d.counted = true
			f.e.record(src, triage.WormFanout, d.at, d.addr, 1, sample)
		}
	}
}

// expire forgets sources that sent nothing for a whole window.
func (f *fanout) expire(now time.Time) {
	for a, s := range f.src {
		if now.Sub(s.last) >= f.window {
			delete(f.src, a)
		}
	}
}
