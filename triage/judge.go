package triage

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"redsweep/fingerprint"
)

// Probe names, as the scanner records them in Exchange.Probe.
const (
	ProbeRoot     = "root"             // GET /
	ProbeBaseline = "baseline"         // GET of a random path that cannot exist
	ProbeNullIda  = "null-ida"         // GET /NULL.ida
	ProbeReadme   = "readme-eml"       // GET /readme.eml
	ProbeCR2Scr   = "codered2-scripts" // GET /scripts/root.exe?/c+ver (--confirm)
	ProbeCR2MSADC = "codered2-msadc"   // GET /MSADC/root.exe?/c+ver (--confirm)
	ProbeMS01033  = "ms01-033"         // GET /x.ida? + 220 x + =x (--confirm)
)

// Exchange is one probe's request and answer on one host:port.
type Exchange struct {
	Probe      string
	Path       string
	Status     int    // HTTP status; 0 when no HTTP answer
	StatusLine string // as sent, "" when none
	Err        string // transport error, or why the answer is not well-formed HTTP; "" when neither
	Print      fingerprint.Result
	Body       []byte // capped body, for baseline comparison
	At         time.Time
}

// Judge turns one host:port's exchanges from one sweep into a verdict and the
// findings behind it. Content decides, never a status code alone: a worm path
// is trusted only when a random-path baseline answered differently, so a
// catch-all server is never called infected or vulnerable, and the .ida
// mapping counts only on a host the fingerprint calls IIS.
func Judge(ex []Exchange) (Verdict, []Finding) {
	byProbe := make(map[string]*Exchange, len(ex))
	for i := range ex {
		if _, dup := byProbe[ex[i].Probe]; !dup {
			byProbe[ex[i].Probe] = &ex[i]
		}
	}
	var out []Finding
	add := func(code, detail string, e *Exchange, snippet string) {
		for _, f := range out {
			if f.Code == code {
				return
			}
		}
		out = append(out, Finding{Code: code, Detail: detail, Evidence: evidence(e, snippet), Source: SourceSweep, Seen: e.At})
	}

	verdict := None
	for i := range ex {
		if ex[i].Status > 0 {
			verdict = Web
		}
	}
	root := byProbe[ProbeRoot]
	base := byProbe[ProbeBaseline]
	rootIIS := root != nil && root.Status > 0 && root.Print.IsIIS
	if rootIIS {
		verdict = IIS
		if codeRedEra(root.Print) {
			add(IISCodeRedEra, fmt.Sprintf("Microsoft IIS %s (%s): the Code Red target population", deref(root.Print.Version), deref(root.Print.OS)), root, "")
		}
	}

	// "/" itself: Code Red I serves its page for every request from memory,
	// so a baseline showing the same page does not make it less true.
	if root != nil && root.Status > 0 {
		if s, ok := artefact(root, fingerprint.ArtCodeRed1Defaced); ok {
			add(CodeRed1Defaced, "/ serves the Code Red I \"Hacked By Chinese!\" page", root, s)
		}
		if s, ok := artefact(root, fingerprint.ArtNimdaContent); ok {
			add(NimdaContent, "/ carries Nimda's window.open(\"readme.eml\") script", root, s)
		}
	}

	// Worm paths: trusted only against a baseline that answered over HTTP
	// with something else.
	trusted := func(e *Exchange) bool {
		if e == nil || e.Status == 0 {
			return false
		}
		if base == nil || base.Status == 0 {
			return false
		}
		if sameAnswer(base, e) {
			add(CatchAll, fmt.Sprintf("a random path (%s) got the same answer as %s: worm-path answers not trusted", base.Path, e.Path), base, "")
			return false
		}
		return true
	}
	if e := byProbe[ProbeReadme]; trusted(e) {
		if s, ok := artefact(e, fingerprint.ArtNimdaReadmeEML); ok {
			add(NimdaReadmeEML, "/readme.eml serves Nimda's MIME payload", e, s)
		}
	}
	for _, name := range []string{ProbeCR2Scr, ProbeCR2MSADC} {
		if e := byProbe[name]; trusted(e) {
			if s, ok := artefact(e, fingerprint.ArtCGICmdOutput); ok {
				add(CodeRed2Backdoor, fmt.Sprintf("%s runs cmd.exe (Code Red II backdoor)", pathOnly(e.Path)), e, s)
			}
		}
	}
	idaMapped, idaSnippet := false, ""
	nullIda := byProbe[ProbeNullIda]
	if rootIIS && trusted(nullIda) {
		idaSnippet, idaMapped = artefact(nullIda, fingerprint.ArtIdaErrorPage)
	}
	// With --confirm the 220-x request settles it: a crash (0xc0000005) is
	// unpatched; the ordinary .ida error page means the overflow was refused
	// (MS01-033 applied), so the mapping alone no longer makes it vulnerable.
	patched := false
	if e := byProbe[ProbeMS01033]; rootIIS && trusted(e) {
		if s, ok := artefact(e, fingerprint.ArtAccessViolation); ok {
			add(MS01033Unpatched, "the 220-x .ida request crashed the ISAPI (0xc0000005): MS01-033 not applied", e, s)
		} else if s, ok := artefact(e, fingerprint.ArtIdaErrorPage); ok && idaMapped {
			patched = true
			add(MS01033Patched, "the .ida mapping is present but the 220-x .ida request was answered normally: MS01-033 applied", e, s)
		}
	}
	if idaMapped && !patched {
		add(IdaMapped, "/NULL.ida answered by the Index Server ISAPI: the .ida mapping Code Red exploits is present", nullIda, idaSnippet)
	}

	for _, f := range out {
		if v := Severity(f.Code); v > verdict {
			verdict = v
		}
	}
	return verdict, out
}

// codeRedEra: IIS 4.0 (NT 4.0) and 5.0 (Windows 2000) shipped with the .ida
// mapping; 5.1 and later shipped after the fix.
func codeRedEra(r fingerprint.Result) bool {
	if r.Version == nil {
		return false
	}
	v := *r.Version
	return v == "5.0" || v == "4.0" || strings.HasPrefix(v, "4.")
}

// artefact returns the snippet of a fingerprint finding with the given code.
func artefact(e *Exchange, code string) (string, bool) {
	for _, f := range e.Print.Findings {
		if f.Code == code {
			return f.Snippet, true
		}
	}
	return "", false
}

// sameAnswer: the baseline (a path that cannot exist) carries the same worm
// artefact as the worm path, or got the same 2xx body. A server that answers
// every path with one page, or echoes the path into a template, is then not
// telling us anything about the worm path.
func sameAnswer(base, e *Exchange) bool {
	for _, f := range e.Print.Findings {
		if _, ok := artefact(base, f.Code); ok {
			return true
		}
	}
	return base.Status/100 == 2 && base.Status == e.Status && bytes.Equal(base.Body, e.Body)
}

func evidence(e *Exchange, snippet string) string {
	var parts []string
	if e.StatusLine != "" {
		parts = append(parts, e.StatusLine)
	} else if e.Status > 0 {
		parts = append(parts, fmt.Sprintf("status %d", e.Status))
	}
	if e.Print.Server != "" {
		parts = append(parts, "Server: "+e.Print.Server)
	}
	if snippet != "" {
		parts = append(parts, fmt.Sprintf("%q", snippet))
	}
	return "GET " + e.Path + " → " + strings.Join(parts, " | ")
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

func deref(s *string) string {
	if s == nil {
		return "?"
	}
	return *s
}
