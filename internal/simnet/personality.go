package simnet

import (
	"fmt"
	"slices"
)

// Verdict is a verdict name as triage spells it. simnet keeps its own copy
// of the names and finding codes so that the ground truth does not depend on
// the code it checks; internal/simnet/triagecheck asserts they still match.
type Verdict string

// Verdicts, least to most severe.
const (
	VerdictNone       Verdict = "none"
	VerdictWeb        Verdict = "web"
	VerdictIIS        Verdict = "iis"
	VerdictVulnerable Verdict = "vulnerable"
	VerdictInfected   Verdict = "infected"
)

// Verdicts lists the verdict names in severity order.
var Verdicts = []Verdict{VerdictNone, VerdictWeb, VerdictIIS, VerdictVulnerable, VerdictInfected}

func (v Verdict) rank() int { return slices.Index(Verdicts, v) }

// Finding codes used in the ground truth (triage's active-sweep codes).
const (
	CodeCodeRed1Defaced  = "codered1-defaced"
	CodeCodeRed2Backdoor = "codered2-backdoor"
	CodeNimdaContent     = "nimda-content"
	CodeNimdaReadmeEML   = "nimda-readme-eml"
	CodeIdaMapped        = "ida-mapped"
	CodeMS01033          = "ms01-033-unpatched"
	CodeMS01033Patched   = "ms01-033-patched"
	CodeIISCodeRedEra    = "iis-codered-era"
	CodeCatchAll         = "catch-all"
)

// Codes lists every finding code the ground truth uses.
var Codes = []string{CodeCodeRed1Defaced, CodeCodeRed2Backdoor, CodeNimdaContent, CodeNimdaReadmeEML,
	CodeIdaMapped, CodeMS01033, CodeMS01033Patched, CodeIISCodeRedEra, CodeCatchAll}

// Personality is what answers on one customer address.
type Personality string

// Genuine servers.
const (
	IIS4Ida         Personality = "iis4-ida"         // IIS 4.0 (NT 4.0), Index Server .ida mapping, unpatched
	IIS4NoIda       Personality = "iis4-noida"       // IIS 4.0 without the .ida mapping (the cured twin of IIS4Ida)
	IIS5Ida         Personality = "iis5-ida"         // IIS 5.0 (Windows 2000), .ida mapping, unpatched (MS01-033)
	IIS5IdaPatched  Personality = "iis5-ida-patched" // IIS 5.0, .ida mapping, MS01-033 installed
	IIS5NoIda       Personality = "iis5-noida"       // IIS 5.0 without the .ida mapping (cured twin of the IIS 5 ones)
	IIS51           Personality = "iis5.1"           // IIS 5.1 (Windows XP)
	IIS6            Personality = "iis6"             // IIS 6.0 (Server 2003)
	IIS75           Personality = "iis7.5"           // IIS 7.5 (Server 2008 R2)
	IIS10           Personality = "iis10"            // IIS 10.0
	HTTPSys         Personality = "httpsys"          // HTTP.sys alone: Microsoft-HTTPAPI/2.0 404 to everything
	CodeRed1        Personality = "codered1"         // IIS 5.0 defaced by Code Red I
	CodeRed2        Personality = "codered2"         // IIS 5.0 with Code Red II's root.exe backdoor
	Nimda           Personality = "nimda"            // IIS 5.0 infected by Nimda
	Apache13        Personality = "apache1.3"        // Apache 1.3 on Unix
	Nginx           Personality = "nginx"            // nginx
	CatchAll        Personality = "catchall"         // IIS 5.0 whose custom 404 serves the home page with 200 to every path
	SpoofedIIS      Personality = "spoofed-iis"      // not IIS: IIS 5.0 banner, bare-LF headers, non-IIS body
	Closed          Personality = "closed"           // in the roster, no listener: connection refused
	Silent          Personality = "silent"           // accepts, reads the request, never answers
	Slow            Personality = "slow"             // Apache 1.3 answering after Config.SlowDelay
	Reset           Personality = "reset"            // accepts, reads the request, closes with RST
	HostileTrickle  Personality = "hostile-trickle"  // a valid response, one byte a second, forever
	HostileEndless  Personality = "hostile-endless"  // headers, then a body that never ends
	HostileHugeLine Personality = "hostile-hugeline" // a 1 MB header line
	HostileGarbage  Personality = "hostile-garbage"  // binary garbage, no HTTP
	HostileHTTP09   Personality = "hostile-http09"   // HTTP/0.9: a body with no status line
	HostileResetMid Personality = "hostile-resetmid" // status and some headers, then RST
	HostileStatus   Personality = "hostile-statusonly"
	HostileHeaders  Personality = "hostile-headers" // thousands of headers
)

// spec is what simnet knows about a personality: the ground truth a sweep
// should reach, and the twin a cure turns it into.
type spec struct {
	desc     string
	listens  bool
	hostile  bool
	verdict  Verdict // default sweep (no --confirm)
	findings []string
	cverdict Verdict // sweep with --confirm
	cfinds   []string
	cure     Personality // "" when there is nothing to cure
}

var (
	era    = CodeIISCodeRedEra
	mapped = CodeIdaMapped
)

// specs is the ground truth. Why each verdict:
//   - IIS 4/5 with the .ida mapping are vulnerable whether patched or not: the
//     default sweep cannot tell (issue 2 point 5). With --confirm the 220-x
//     probe settles it: a crash adds ms01-033-unpatched, a normal .ida error
//     page means patched, and triage then drops ida-mapped (verdict iis).
//   - Code Red II's backdoor is only provable with --confirm; without it the
//     host is still IIS 5 with the .ida mapping, so vulnerable.
//   - Code Red I and Nimda show on "/" (and readme.eml), so infected in both modes.
//   - The catch-all is genuine IIS 5.0 framing with no .ida mapping (NULL.ida
//     gets the home page with 200, not the IDQ error), so iis plus catch-all.
//   - Hostile hosts: none when no status line can arrive in time (trickle,
//     garbage, HTTP/0.9), web when a status line arrives before things break.
var specs = map[Personality]spec{
	IIS4Ida:        {desc: "IIS 4.0, .ida mapping, unpatched", listens: true, verdict: VerdictVulnerable, findings: []string{era, mapped}, cverdict: VerdictVulnerable, cfinds: []string{era, mapped, CodeMS01033}, cure: IIS4NoIda},
	IIS4NoIda:      {desc: "IIS 4.0, no .ida mapping", listens: true, verdict: VerdictIIS, findings: []string{era}, cverdict: VerdictIIS, cfinds: []string{era}},
	IIS5Ida:        {desc: "IIS 5.0, .ida mapping, unpatched", listens: true, verdict: VerdictVulnerable, findings: []string{era, mapped}, cverdict: VerdictVulnerable, cfinds: []string{era, mapped, CodeMS01033}, cure: IIS5NoIda},
	IIS5IdaPatched: {desc: "IIS 5.0, .ida mapping, MS01-033 patched", listens: true, verdict: VerdictVulnerable, findings: []string{era, mapped}, cverdict: VerdictIIS, cfinds: []string{era, CodeMS01033Patched}, cure: IIS5NoIda},
	IIS5NoIda:      {desc: "IIS 5.0, no .ida mapping", listens: true, verdict: VerdictIIS, findings: []string{era}, cverdict: VerdictIIS, cfinds: []string{era}},
	IIS51:          {desc: "IIS 5.1", listens: true, verdict: VerdictIIS, cverdict: VerdictIIS},
	IIS6:           {desc: "IIS 6.0", listens: true, verdict: VerdictIIS, cverdict: VerdictIIS},
	IIS75:          {desc: "IIS 7.5", listens: true, verdict: VerdictIIS, cverdict: VerdictIIS},
	IIS10:          {desc: "IIS 10.0", listens: true, verdict: VerdictIIS, cverdict: VerdictIIS},
	HTTPSys:        {desc: "HTTP.sys alone (Microsoft-HTTPAPI/2.0)", listens: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	CodeRed1:       {desc: "IIS 5.0 defaced by Code Red I", listens: true, verdict: VerdictInfected, findings: []string{CodeCodeRed1Defaced, era, mapped}, cverdict: VerdictInfected, cfinds: []string{CodeCodeRed1Defaced, era, mapped, CodeMS01033}, cure: IIS5NoIda},
	CodeRed2:       {desc: "IIS 5.0 with the Code Red II root.exe backdoor", listens: true, verdict: VerdictVulnerable, findings: []string{era, mapped}, cverdict: VerdictInfected, cfinds: []string{CodeCodeRed2Backdoor, era, mapped, CodeMS01033}, cure: IIS5NoIda},
	Nimda:          {desc: "IIS 5.0 infected by Nimda", listens: true, verdict: VerdictInfected, findings: []string{CodeNimdaContent, CodeNimdaReadmeEML, era, mapped}, cverdict: VerdictInfected, cfinds: []string{CodeNimdaContent, CodeNimdaReadmeEML, era, mapped, CodeMS01033}, cure: IIS5NoIda},
	Apache13:       {desc: "Apache 1.3", listens: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	Nginx:          {desc: "nginx", listens: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	CatchAll:       {desc: "IIS 5.0 answering 200 with the home page to every path", listens: true, verdict: VerdictIIS, findings: []string{era, CodeCatchAll}, cverdict: VerdictIIS, cfinds: []string{era, CodeCatchAll}},
	SpoofedIIS:     {desc: "non-IIS server with a spoofed Microsoft-IIS/5.0 banner", listens: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	Closed:         {desc: "no listener (RST)", verdict: VerdictNone, cverdict: VerdictNone},
	Silent:         {desc: "accepts, never answers", listens: true, verdict: VerdictNone, cverdict: VerdictNone},
	Slow:           {desc: "Apache 1.3 answering after the slow delay", listens: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	Reset:          {desc: "accepts, then RST", listens: true, verdict: VerdictNone, cverdict: VerdictNone},

	HostileTrickle:  {desc: "trickles one byte a second forever", listens: true, hostile: true, verdict: VerdictNone, cverdict: VerdictNone},
	HostileEndless:  {desc: "endless body", listens: true, hostile: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	HostileHugeLine: {desc: "1 MB header line", listens: true, hostile: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	HostileGarbage:  {desc: "binary garbage", listens: true, hostile: true, verdict: VerdictNone, cverdict: VerdictNone},
	HostileHTTP09:   {desc: "HTTP/0.9: body with no status line", listens: true, hostile: true, verdict: VerdictNone, cverdict: VerdictNone},
	HostileResetMid: {desc: "RST in the middle of the headers", listens: true, hostile: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	HostileStatus:   {desc: "closes right after the status line", listens: true, hostile: true, verdict: VerdictWeb, cverdict: VerdictWeb},
	HostileHeaders:  {desc: "5,000 headers", listens: true, hostile: true, verdict: VerdictWeb, cverdict: VerdictWeb},
}

// Personalities lists every personality simnet knows, in a stable order.
func Personalities() []Personality {
	ps := make([]Personality, 0, len(specs))
	for p := range specs {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Describe is a one-line description of p.
func (p Personality) Describe() string { return specs[p].desc }

// Hostile reports whether p is one of issue 7's hostile servers.
func (p Personality) Hostile() bool { return specs[p].hostile }

// Expect is the ground truth for p: the verdict and finding codes a default
// sweep should reach, or with confirm a sweep run with --confirm.
func (p Personality) Expect(confirm bool) (Verdict, []string) {
	s := specs[p]
	if confirm {
		return s.cverdict, slices.Clone(s.cfinds)
	}
	return s.verdict, slices.Clone(s.findings)
}

// Valid reports whether simnet knows p.
func (p Personality) Valid() bool { _, ok := specs[p]; return ok }

// defaultMix is the share of each personality among listeners, per 300, for
// a network sized like one ISP head-end in August 2001: most hosts clean or
// not IIS, about one in eight infected, one in seven vulnerable.
var defaultMix = []struct {
	p Personality
	n int
}{
	{CodeRed1, 10}, {CodeRed2, 14}, {Nimda, 12},
	{IIS4Ida, 8}, {IIS5Ida, 22}, {IIS5IdaPatched, 15},
	{IIS5NoIda, 20}, {IIS4NoIda, 4}, {CatchAll, 5}, {IIS51, 10}, {IIS6, 28}, {IIS75, 24}, {IIS10, 24},
	{HTTPSys, 14}, {Apache13, 30}, {Nginx, 28}, {SpoofedIIS, 6},
	{Silent, 3}, {Slow, 3}, {Reset, 3},
}

var hostileSet = []Personality{HostileTrickle, HostileEndless, HostileHugeLine, HostileGarbage, HostileHTTP09, HostileResetMid, HostileStatus, HostileHeaders}

// bad reports whether p belongs to the infected or vulnerable population that
// clusters unevenly across subnets.
func (p Personality) bad() bool {
	s := specs[p]
	return s.verdict.rank() >= VerdictVulnerable.rank() || s.cverdict.rank() >= VerdictVulnerable.rank()
}

func checkMix(mix map[Personality]int) error {
	for p, n := range mix {
		s, ok := specs[p]
		switch {
		case !ok:
			return fmt.Errorf("simnet: unknown personality %q", p)
		case !s.listens:
			return fmt.Errorf("simnet: personality %q has no listener; closed addresses come from Customers", p)
		case s.hostile:
			return fmt.Errorf("simnet: hostile personality %q comes from Hostile, not Mix", p)
		case n < 0:
			return fmt.Errorf("simnet: negative count %d for %q", n, p)
		}
	}
	return nil
}
