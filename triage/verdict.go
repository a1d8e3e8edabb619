// Package triage holds the rules that turn what redsweep saw (probe answers,
// captured traffic, customer reports) into one verdict per host. It is pure:
// no network, no database. The support desk trusts its calls to these rules,
// so every verdict carries the findings that justify it.
package triage

import (
	"fmt"
	"strings"
	"time"
)

// Verdict is ordered by severity: a larger value is worse.
type Verdict uint8

const (
	None       Verdict = iota // closed, filtered, or not HTTP
	Web                       // a web server that is not IIS (HTTP.sys alone included)
	IIS                       // IIS with no sign of exposure
	Vulnerable                // IIS 4/5 with the .ida mapping, or confirmed unpatched
	Infected                  // worm evidence
)

var verdictNames = [...]string{"none", "web", "iis", "vulnerable", "infected"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// ParseVerdict is the inverse of String.
func ParseVerdict(s string) (Verdict, error) {
	for i, n := range verdictNames {
		if strings.EqualFold(s, n) {
			return Verdict(i), nil
		}
	}
	return None, fmt.Errorf("unknown verdict %q (want one of %s)", s, strings.Join(verdictNames[:], ", "))
}

func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

func (v *Verdict) UnmarshalText(b []byte) error {
	p, err := ParseVerdict(string(b))
	*v = p
	return err
}

// Evidence sources, in the order the support desk weighs them.
const (
	SourceSweep   = "sweep"   // an active probe by redsweep
	SourceCapture = "capture" // worm traffic seen in a packet capture
	SourceReport  = "report"  // a customer's web-server log
)

// Finding codes. They are stored in the database and read by other tools:
// never rename one, only add. README.md documents each.
const (
	// Active sweep.
	CodeRed1Defaced  = "codered1-defaced"   // "/" serves the Code Red I "HELLO! ... Hacked By Chinese!" page
	CodeRed2Backdoor = "codered2-backdoor"  // /scripts or /MSADC root.exe runs cmd.exe (--confirm only)
	NimdaContent     = "nimda-content"      // "/" carries Nimda's window.open("readme.eml", null...) script
	NimdaReadmeEML   = "nimda-readme-eml"   // /readme.eml serves Nimda's MIME payload
	IdaMapped        = "ida-mapped"         // /NULL.ida answered by the Index Server ISAPI (.ida mapping present)
	MS01033Unpatched = "ms01-033-unpatched" // the 220-x .ida probe crashed the ISAPI (0xc0000005) (--confirm only)
	MS01033Patched   = "ms01-033-patched"   // the 220-x .ida probe was refused normally: MS01-033 applied (--confirm only)
	IISCodeRedEra    = "iis-codered-era"    // IIS 4.0 or 5.0: the Code Red target population
	CatchAll         = "catch-all"          // answers 200 to random paths: worm-path 200s are not trusted

	// Passive evidence (captures and customer reports).
	CodeRed1Traffic = "codered1-traffic" // sent Code Red I (.ida? + NNNN...) requests
	CodeRed2Traffic = "codered2-traffic" // sent Code Red II (.ida? + XXXX...) requests
	NimdaTraffic    = "nimda-traffic"    // sent Nimda's root.exe / cmd.exe traversal probes
	IdaOverflow     = "ida-overflow"     // another .ida/.idq overflow attempt (recorded, not a worm)
	SadmindTraffic  = "sadmind-traffic"  // sadmind/IIS "GET x HTTP/1.0"
	WormFanout      = "worm-fanout"      // port-80 connections to many distinct hosts in a short window
	InfectedReply   = "infected-reply"   // served a Nimda page or cmd.exe output on the wire
)

// codeSeverity says what verdict a finding implies on its own.
var codeSeverity = map[string]Verdict{
	CodeRed1Defaced:  Infected,
	CodeRed2Backdoor: Infected,
	NimdaContent:     Infected,
	NimdaReadmeEML:   Infected,
	IdaMapped:        Vulnerable,
	MS01033Unpatched: Vulnerable,
	MS01033Patched:   IIS,
	IISCodeRedEra:    IIS,
	CatchAll:         Web,
	CodeRed1Traffic:  Infected,
	CodeRed2Traffic:  Infected,
	NimdaTraffic:     Infected,
	IdaOverflow:      None,
	SadmindTraffic:   Infected,
	WormFanout:       Infected,
	InfectedReply:    Infected,
}

// ConfirmOnly are the findings only a --confirm sweep can make. A later
// sweep without --confirm cannot see them, so it must neither clear them
// (an infected host is not "cleaned" because nobody looked) nor contradict
// them (a host proven patched is not "vulnerable" again).
var ConfirmOnly = []string{CodeRed2Backdoor, MS01033Unpatched, MS01033Patched}

// Severity is the verdict a finding code implies by itself; unknown codes imply None.
func Severity(code string) Verdict { return codeSeverity[code] }

// Finding is one reason behind a verdict, with the evidence a person can check.
type Finding struct {
	Code     string    `json:"code"`
	Detail   string    `json:"detail"`             // plain words: what was seen
	Evidence string    `json:"evidence,omitempty"` // status line, Server header, matched snippet
	Source   string    `json:"source"`             // SourceSweep, SourceCapture or SourceReport
	Seen     time.Time `json:"seen"`
}
