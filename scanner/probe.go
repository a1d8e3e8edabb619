package scanner

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"redsweep/fingerprint"
	"redsweep/triage"
)

// Probe is one check. The probe stage runs the probes in order on each open
// host:port, one HTTP/1.0 request per connection; a probe only builds its
// request and says whether it is wanted given the answers so far.
type Probe interface {
	Name() string
	Request(host string) []byte // the whole request; host is the Host header value
	Wanted(sofar []triage.Exchange) bool
	Intrusive() bool // makes the host run a program: only with Options.Confirm
}

// UserAgent names redsweep so a customer reading their log knows who asked.
const UserAgent = "redsweep/1.0 (ISP NOC Code Red/Nimda exposure check)"

// getProbe is a GET of one path, wanted when its predicate holds.
type getProbe struct {
	name      string
	path      func() string
	wanted    func(sofar []triage.Exchange) bool
	intrusive bool
}

func (p *getProbe) Name() string    { return p.name }
func (p *getProbe) Intrusive() bool { return p.intrusive }
func (p *getProbe) Wanted(sofar []triage.Exchange) bool {
	return p.wanted == nil || p.wanted(sofar)
}

func (p *getProbe) Request(host string) []byte {
	return []byte("GET " + p.path() + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: " + UserAgent + "\r\nAccept: */*\r\n\r\n")
}

func fixed(s string) func() string { return func() string { return s } }

// DefaultProbes is the standard set, in the order they run. The intrusive
// ones run only with Options.Confirm; they use "ver", never "dir": a
// directory listing would expose the customer's files.
func DefaultProbes() []Probe {
	return []Probe{
		&getProbe{name: triage.ProbeRoot, path: fixed("/")},
		// A path that cannot exist, to recognise servers that answer 200 to
		// everything before a worm-path 200 is believed.
		&getProbe{name: triage.ProbeBaseline, path: randomPath, wanted: interesting},
		&getProbe{name: triage.ProbeNullIda, path: fixed("/NULL.ida"), wanted: codeRedCandidate},
		&getProbe{name: triage.ProbeReadme, path: fixed("/readme.eml"), wanted: func(s []triage.Exchange) bool {
			return codeRedCandidate(s) || rootHas(s, fingerprint.ArtNimdaContent)
		}},
		&getProbe{name: triage.ProbeCR2Scr, path: fixed("/scripts/root.exe?/c+ver"), wanted: interesting, intrusive: true},
		&getProbe{name: triage.ProbeCR2MSADC, path: fixed("/MSADC/root.exe?/c+ver"), wanted: interesting, intrusive: true},
		// The MS01-033 confirmation only where the .ida mapping answered.
		&getProbe{name: triage.ProbeMS01033, path: fixed("/x.ida?" + strings.Repeat("x", 220) + "=x"), intrusive: true,
			wanted: func(s []triage.Exchange) bool { return has(s, triage.ProbeNullIda, fingerprint.ArtIdaErrorPage) }},
	}
}

func randomPath() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "/redsweep-" + hex.EncodeToString(b[:]) + ".htm"
}

func root(sofar []triage.Exchange) *triage.Exchange {
	for i := range sofar {
		if sofar[i].Probe == triage.ProbeRoot && sofar[i].Status > 0 {
			return &sofar[i]
		}
	}
	return nil
}

// codeRedCandidate: the root answer is IIS 4.0/5.0, or IIS with its version
// hidden (a stripped banner does not make a host safe).
func codeRedCandidate(sofar []triage.Exchange) bool {
	r := root(sofar)
	if r == nil || !r.Print.IsIIS {
		return false
	}
	v := r.Print.Version
	return v == nil || *v == "5.0" || strings.HasPrefix(*v, "4.")
}

// interesting: a Code Red candidate, or a root page carrying a worm artefact.
func interesting(sofar []triage.Exchange) bool {
	if codeRedCandidate(sofar) {
		return true
	}
	r := root(sofar)
	return r != nil && len(r.Print.Findings) > 0
}

func rootHas(sofar []triage.Exchange, code string) bool {
	return has(sofar, triage.ProbeRoot, code)
}

func has(sofar []triage.Exchange, probe, code string) bool {
	for _, e := range sofar {
		if e.Probe != probe {
			continue
		}
		for _, f := range e.Print.Findings {
			if f.Code == code {
				return true
			}
		}
	}
	return false
}
