package triage

import (
	"fmt"
	"slices"
	"time"
)

// DefaultMaxAge is how long passive evidence (worm traffic seen in a capture
// or a customer's log) keeps a host infected without fresh sightings.
//
// Why 14 days: an infected Code Red / Nimda host scans continuously, so while
// it is infected every capture and most customer logs keep showing it;
// customers mail logs in days late, so a week would drop live cases. After
// two weeks without a sighting the host has most likely been cleaned,
// re-imaged or unplugged, or its DHCP lease (days, on this network) has moved
// the address to someone else — calling that customer would be wrong.
const DefaultMaxAge = 14 * 24 * time.Hour

// EvidenceItem is one piece of passive evidence about a host (one row of
// store.Evidence, without the store dependency).
type EvidenceItem struct {
	Source          string // SourceCapture or SourceReport
	Code            string // a passive finding code (CodeRed2Traffic, WormFanout, ...)
	FirstSeen       time.Time
	LastSeen        time.Time
	Count           int64
	DistinctTargets int64
	Reporter        string
	Origin          string // file:line or file#packet of a sample
	Sample          string
}

// Clearance is the support desk's record that a host was fixed: a "patched"
// call outcome at PatchedAt, confirmed by a sweep at CleanSweepAt that found
// the host neither vulnerable nor infected. The zero value means none.
type Clearance struct {
	PatchedAt    time.Time
	CleanSweepAt time.Time
}

// valid: a patched call followed (or accompanied) by a clean sweep.
func (c Clearance) valid() bool {
	return !c.PatchedAt.IsZero() && !c.CleanSweepAt.IsZero() && !c.CleanSweepAt.Before(c.PatchedAt)
}

// Combine is CombineCleared without a clearance.
func Combine(sweep Verdict, sweepFindings []Finding, ev []EvidenceItem, now time.Time, maxAge time.Duration) (Verdict, []Finding) {
	return CombineCleared(sweep, sweepFindings, ev, Clearance{}, now, maxAge)
}

// CombineCleared joins a host's latest sweep verdict with passive evidence.
// It is pure: the same inputs give the same answer.
//
// Rules:
//  1. Evidence counts while now - LastSeen <= maxAge (DefaultMaxAge when
//     maxAge <= 0). Older evidence ages out: it gives no finding at all.
//  2. Evidence is cleared when the desk recorded the host patched and a
//     sweep confirmed it clean afterwards (clr valid) and the evidence was
//     last seen at or before PatchedAt. Evidence seen after PatchedAt is a
//     re-infection and counts.
//  3. Traffic is stronger than a sweep: a sweep that found the port closed
//     or the host clean does NOT override counting evidence (infected PCs
//     often stop answering on port 80). Only rule 2 clears evidence.
//  4. The verdict is the worst of the sweep verdict and Severity(code) of
//     each counting item. ida-overflow alone implies nothing (None): it is
//     kept as a finding for the trail but does not raise the verdict.
//  5. Findings: the sweep's, then one per counting item, worst first, then
//     newest first.
func CombineCleared(sweep Verdict, sweepFindings []Finding, ev []EvidenceItem, clr Clearance, now time.Time, maxAge time.Duration) (Verdict, []Finding) {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	v := sweep
	findings := slices.Clone(sweepFindings)
	var passive []Finding
	for _, e := range ev {
		seen := e.LastSeen
		if seen.IsZero() {
			seen = e.FirstSeen
		}
		if seen.IsZero() || now.Sub(seen) > maxAge {
			continue // rule 1: aged out (or undated)
		}
		if clr.valid() && !seen.After(clr.PatchedAt) {
			continue // rule 2: cleared by a patched call and a clean sweep
		}
		if s := Severity(e.Code); s > v {
			v = s
		}
		passive = append(passive, Finding{
			Code:     e.Code,
			Detail:   describe(e, now),
			Evidence: evidenceRef(e),
			Source:   e.Source,
			Seen:     seen,
		})
	}
	slices.SortStableFunc(passive, func(a, b Finding) int {
		if sa, sb := Severity(a.Code), Severity(b.Code); sa != sb {
			return int(sb) - int(sa)
		}
		return b.Seen.Compare(a.Seen)
	})
	return v, append(findings, passive...)
}

var codeWords = map[string]string{
	CodeRed1Traffic: "sent Code Red I requests",
	CodeRed2Traffic: "sent Code Red II requests",
	NimdaTraffic:    "sent Nimda probes",
	IdaOverflow:     "sent a .ida/.idq overflow attempt (not a known worm)",
	SadmindTraffic:  "sent sadmind/IIS requests",
	WormFanout:      "opened port-80 connections to many hosts at worm speed",
	InfectedReply:   "served an infected page or command output",
}

func describe(e EvidenceItem, now time.Time) string {
	what := codeWords[e.Code]
	if what == "" {
		what = e.Code
	}
	s := fmt.Sprintf("%s %d time(s)", what, e.Count)
	if e.DistinctTargets > 0 {
		s += fmt.Sprintf(" to %d host(s)", e.DistinctTargets)
	}
	by := "in a capture"
	if e.Source == SourceReport {
		by = "in a customer's log"
		if e.Reporter != "" {
			by += " (" + e.Reporter + ")"
		}
	}
	age := now.Sub(e.LastSeen).Round(time.Hour)
	return fmt.Sprintf("%s, %s, last seen %s ago", s, by, age)
}

func evidenceRef(e EvidenceItem) string {
	if e.Origin == "" {
		return e.Sample
	}
	if e.Sample == "" {
		return e.Origin
	}
	return e.Origin + ": " + e.Sample
}
