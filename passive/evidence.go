package passive

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"redsweep/store"
)

// maxTargetsPerKey caps the distinct-target set kept per (source, code):
// beyond it DistinctTargets is a lower bound ("at least"), and memory stays
// bounded however long a worm keeps scanning.
const maxTargetsPerKey = 4096

// sampleLen is the longest sample excerpt kept.
const sampleLen = 160

type evKey struct {
	addr netip.Addr
	code string
}

type evAgg struct {
	ev      store.Evidence
	targets map[netip.Addr]struct{}
}

// aggregator folds individual sightings into one store.Evidence per
// (source address, finding code).
type aggregator struct {
	source, reporter string
	m                map[evKey]*evAgg
}

func newAggregator(source, reporter string) *aggregator {
	return &aggregator{source: source, reporter: reporter, m: make(map[evKey]*evAgg)}
}

// add records one sighting. target may be the zero Addr when unknown;
// origin and sample are only kept for the first sighting of the key (origin
// is built lazily so the hot path does not format strings for repeats).
func (a *aggregator) add(src netip.Addr, code string, at time.Time, target netip.Addr, n int64, origin func() string, sample []byte) {
	k := evKey{src.Unmap(), code}
	g := a.m[k]
	if g == nil {
		g = &evAgg{ev: store.Evidence{
			Source:    a.source,
			Addr:      k.addr,
			Code:      code,
			FirstSeen: at,
			LastSeen:  at,
			Reporter:  a.reporter,
			Origin:    origin(),
			Sample:    excerpt(sample),
		}}
		a.m[k] = g
	}
	g.ev.Count += n
	if !at.IsZero() {
		if g.ev.FirstSeen.IsZero() || at.Before(g.ev.FirstSeen) {
			g.ev.FirstSeen = at
		}
		if at.After(g.ev.LastSeen) {
			g.ev.LastSeen = at
		}
	}
	if target.IsValid() {
		if g.targets == nil {
			g.targets = make(map[netip.Addr]struct{})
		}
		if len(g.targets) < maxTargetsPerKey {
			g.targets[target.Unmap()] = struct{}{}
		}
		g.ev.DistinctTargets = int64(len(g.targets))
	}
}

// evidence returns the folded evidence sorted by address, then code.
func (a *aggregator) evidence() []store.Evidence {
	out := make([]store.Evidence, 0, len(a.m))
	for _, g := range a.m {
		out = append(out, g.ev)
	}
	slices.SortFunc(out, func(x, y store.Evidence) int {
		if c := x.Addr.Compare(y.Addr); c != 0 {
			return c
		}
		return cmp.Compare(x.Code, y.Code)
	})
	return out
}

// distinctSources counts the distinct addresses in ev, which evidence()
// returns sorted by address.
func distinctSources(ev []store.Evidence) int {
	n := 0
	for i, e := range ev {
		if i == 0 || e.Addr != ev[i-1].Addr {
			n++
		}
	}
	return n
}

// excerpt shortens b to a printable one-line sample: non-printable bytes are
// shown as \xNN, long samples keep their start and end around "...".
func excerpt(b []byte) string {
	var sb strings.Builder
	write := func(p []byte) {
		for _, c := range p {
			if c >= 0x20 && c < 0x7f {
				sb.WriteByte(c)
			} else {
				const hex = "0123456789abcdef"
				sb.WriteString(`\x`)
				sb.WriteByte(hex[c>>4])
				sb.WriteByte(hex[c&0xf])
			}
		}
	}
	if len(b) <= sampleLen {
		write(b)
		return sb.String()
	}
	write(b[:sampleLen-60])
	sb.WriteString("...")
	write(b[len(b)-57:])
	return sb.String()
}
