package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"redsweep/triage"
)

// A script is what a support agent reads out (Say) or keeps in mind (a
// Note, not read out) about one problem. Several finding codes describe the
// same problem (Code Red II seen by a probe and in a capture): they share one
// script so the customer hears it once.
type script struct {
	Problem string // stable key for de-duplication
	Say     bool   // read to the customer; false: for the agent only
	Text    string
	// Also replaces Text, as an agent note, on a host with worm evidence:
	// "not infected yet" must not be read to an infected customer. Empty:
	// the infection's own script already covers it, say nothing more.
	Also string
	// Generic infection scripts (a fan-out, an infected page on the wire)
	// name no worm: when a finding names one, its script is read instead
	// and the generic one becomes the Also note.
	Generic bool
}

var (
	scriptCodeRed1 = script{
		Problem: "codered1", Say: true,
		Text: "Your computer is infected with the Code Red worm: it is attacking other computers on the Internet. " +
			"Restart the computer to stop the worm, then install Microsoft's MS01-033 patch before doing anything else, " +
			"or it will be infected again within minutes.",
	}
	scriptCodeRed2 = script{
		Problem: "codered2", Say: true,
		Text: "Your computer is infected with Code Red II, which leaves a back door that lets anyone control it: " +
			"install Microsoft's MS01-033 patch, then run the Code Red II removal tool from Microsoft, and restart the computer.",
	}
	scriptNimda = script{
		Problem: "nimda", Say: true,
		Text: "Your computer is infected with the Nimda worm: disconnect it from the network, clean it with an up-to-date " +
			"antivirus program or a Nimda removal tool, then install Microsoft's patches MS00-078, MS01-020 and MS01-044.",
	}
	scriptSadmind = script{
		Problem: "sadmind", Say: true,
		Text: "One of your computers, probably a Sun Solaris machine, is infected with the sadmind/IIS worm, which attacks web servers: " +
			"install Sun's sadmind patch and clean the machine as CERT advisory CA-2001-11 describes.",
	}
	scriptFanout = script{
		Problem: "fanout", Say: true,
		Text: "Your computer is connecting to the web servers of many other computers very quickly, which is what a worm does " +
			"when it spreads: scan it with an up-to-date antivirus program, and if it runs Microsoft's web server (IIS), " +
			"install the MS01-033 and MS01-044 patches.",
		Also:    "It is also connecting to many web servers quickly, as a spreading worm does.",
		Generic: true,
	}
	scriptInfectedReply = script{
		Problem: "infected-reply", Say: true,
		Text: "Your web server was seen sending out a page that only an infected server sends: scan it with an up-to-date " +
			"antivirus program or worm removal tool, then install Microsoft's MS01-033 and MS01-044 patches.",
		Also:    "It was also seen serving an infected page or the back door's output on the wire.",
		Generic: true,
	}
	scriptIdaMapped = script{
		Problem: "ida-mapped", Say: true,
		Text: "Your web server (Microsoft IIS) is open to the Code Red worm but not infected yet: install Microsoft's MS01-033 patch, " +
			"or remove the .ida and .idq script mappings in the IIS settings if you do not use Index Server.",
		Also: "The .ida mapping Code Red uses is present: the MS01-033 patch, or removing the .ida/.idq mappings, closes it.",
	}
	scriptMS01033 = script{
		Problem: "ms01-033", Say: true,
		Text: "Your web server is missing Microsoft's MS01-033 patch, the hole Code Red uses to get in: install MS01-033 today.",
		Also: "Confirmed missing MS01-033: the patch must go on before the machine is reconnected.",
	}
	scriptIISEra = script{
		Problem: "iis-era", Say: false,
		Text: "Runs IIS 4.0 or 5.0, the versions Code Red attacks: make sure MS01-033 is installed.",
		Also: "Runs IIS 4.0 or 5.0, the versions Code Red attacks.",
	}
	scriptMS01033Patched = script{
		Problem: "ms01-033-patched", Say: false,
		Text: "MS01-033 is installed (the crash test was refused), though the .ida mapping is still there.",
		Also: "MS01-033 is installed: the .ida mapping alone is no longer a hole.",
	}
	scriptCatchAll = script{
		Problem: "catch-all", Say: false,
		Text: "The server answers every address with a page, so a page alone proves nothing; the other findings are what count.",
		Also: "The server answers every address with a page: a worm path answering was not trusted on its own.",
	}
	scriptIdaOverflow = script{
		Problem: "ida-overflow", Say: false,
		Text: "Sent an .ida/.idq attack that matches no known worm: ask whether anyone there is testing web servers.",
		Also: "Also sent an .ida/.idq attack that matches no known worm.",
	}
)

// scripts maps every finding code in triage to its plain-words script.
// TestEveryFindingCodeHasScript keeps this in step with triage.
var scripts = map[string]script{
	triage.CodeRed1Defaced:  scriptCodeRed1,
	triage.CodeRed1Traffic:  scriptCodeRed1,
	triage.CodeRed2Backdoor: scriptCodeRed2,
	triage.CodeRed2Traffic:  scriptCodeRed2,
	triage.NimdaContent:     scriptNimda,
	triage.NimdaReadmeEML:   scriptNimda,
	triage.NimdaTraffic:     scriptNimda,
	triage.SadmindTraffic:   scriptSadmind,
	triage.WormFanout:       scriptFanout,
	triage.InfectedReply:    scriptInfectedReply,
	triage.IdaMapped:        scriptIdaMapped,
	triage.MS01033Unpatched: scriptMS01033,
	triage.MS01033Patched:   scriptMS01033Patched,
	triage.IISCodeRedEra:    scriptIISEra,
	triage.CatchAll:         scriptCatchAll,
	triage.IdaOverflow:      scriptIdaOverflow,
}

// scriptFor never leaves an agent with nothing to say: a code added to
// triage before this table falls back to the finding's own detail.
func scriptFor(f triage.Finding) script {
	if s, ok := scripts[f.Code]; ok {
		return s
	}
	text := f.Detail
	if text == "" {
		text = "See the finding " + f.Code + "."
	}
	return script{Problem: "code:" + f.Code, Say: false, Text: text, Also: text}
}

// scriptsFor returns one script per problem, worst first, so the most
// urgent advice is read first: a named worm, then a generic infection sign,
// then exposure. On a host with worm evidence, lesser findings become agent
// notes (their Also text), and so do generic signs when a worm is named.
func scriptsFor(fs []triage.Finding) []script {
	var infected, named bool
	for _, f := range fs {
		if triage.Severity(f.Code) >= triage.Infected {
			infected = true
			named = named || !scriptFor(f).Generic
		}
	}
	var say, notes []script
	for _, f := range fs {
		s := scriptFor(f)
		demote := infected && triage.Severity(f.Code) < triage.Infected || named && s.Generic
		if demote {
			if s.Also == "" {
				continue
			}
			s.Say, s.Text = false, s.Also
		}
		if slices.ContainsFunc(say, func(o script) bool { return o.Problem == s.Problem }) ||
			slices.ContainsFunc(notes, func(o script) bool { return o.Problem == s.Problem }) {
			continue
		}
		if s.Say {
			say = append(say, s)
		} else {
			notes = append(notes, s)
		}
	}
	return append(say, notes...)
}

// sourceWords says where a finding came from, for "seen 3 h ago by sweep #12".
func sourceWords(f triage.Finding, sweepID int64) string {
	switch f.Source {
	case triage.SourceSweep:
		if sweepID > 0 {
			return fmt.Sprintf("by sweep #%d", sweepID)
		}
		return "by a sweep"
	case triage.SourceCapture:
		return "in a packet capture"
	case triage.SourceReport:
		return "in a web-server log a customer sent"
	case "":
		return ""
	}
	return "by " + f.Source
}

// seenWords is the evidence line's tail: "seen 3 h ago by sweep #12".
func seenWords(f triage.Finding, sweepID int64, now time.Time) string {
	parts := []string{}
	if !f.Seen.IsZero() {
		parts = append(parts, "seen "+age(f.Seen, now))
	} else {
		parts = append(parts, "seen")
	}
	if s := sourceWords(f, sweepID); s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// age is a duration a person reads at a glance. It depends only on its
// arguments so golden files stay stable.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "at " + t.UTC().Format("2006-01-02 15:04 UTC") // clock skew: say when, not "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// outcomeWords turns a stored outcome into words for a person.
func outcomeWords(o string) string {
	switch o {
	case "":
		return "not called yet"
	case "no-answer":
		return "no answer"
	case "wrong-number":
		return "wrong number"
	case "patched":
		return "said patched"
	}
	return o
}
