package fingerprint

import (
	"bytes"
	"strings"
	"time"
)

// Product names used by the engine itself (the rule file names the rest).
const (
	ProductIIS        = "Microsoft IIS"
	ProductIISExpress = "Microsoft IIS Express"
	productImitator   = "unknown (imitates Microsoft IIS)"
)

// Signal weights.
const (
	WeightFor     = "for"
	WeightAgainst = "against"
	WeightInfo    = "info"
)

// Analyze parses raw response bytes and says what answered.
func Analyze(raw []byte) Result {
	r := Parse(raw)
	return AnalyzeResponse(&r)
}

// WindowsFor maps an IIS version ("5.0", "6.0.0") to the Windows release it
// shipped with. ok is false for versions Microsoft never shipped.
func WindowsFor(version string) (os string, ok bool) {
	rs, err := loadedRules()
	if err != nil {
		return "", false
	}
	v := rs.normIIS(version)
	os, ok = rs.iisWindows[v]
	return os, ok
}

// normIIS reduces "6.0.0" to "6.0" and "7" to "7.0" when that names a
// shipped release; anything else is returned as sent.
func (rs *ruleSet) normIIS(v string) string {
	if v == "" {
		return ""
	}
	if _, ok := rs.iisWindows[v]; ok {
		return v
	}
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	if minor == "" {
		minor = "0"
	}
	if mm := major + "." + minor; rs.iisWindows[mm] != "" {
		return mm
	}
	return v
}

// verdictState gathers hits while the rules run.
type verdictState struct {
	banner  *hit  // the first Server-banner rule that matched
	iis     []hit // IIS / IIS Express evidence away from the banner
	other   *hit  // first non-IIS identification away from the banner
	express bool
	// imitatedPage: a stock IIS page arrived with bare-LF line ends.
	imitatedPage bool
	findings     []hit
	infos        []hit
}

// AnalyzeResponse decides product, version, Windows release and worm
// artefacts from a parsed response, listing the signals behind the answer.
func AnalyzeResponse(r *Response) Result {
	res := Result{Findings: []Finding{}, Signals: []Signal{}}
	if r == nil {
		return res
	}
	rs, err := loadedRules()
	if err != nil {
		res.Signals = append(res.Signals, Signal{Rule: "rules", Weight: WeightInfo, Detail: err.Error()})
		return res
	}
	server, hasServer := r.Get("Server")
	res.Server = server

	var st verdictState
	rs.match(r, server, hasServer, func(h hit) {
		switch h.rule.Class {
		case "artefact":
			st.findings = append(st.findings, h)
		case "info":
			st.infos = append(st.infos, h)
		default:
			if h.rule.On == "server" {
				if st.banner == nil {
					st.banner = &h
				}
				return
			}
			switch h.rule.Class {
			case "iis", "iis-express":
				st.iis = append(st.iis, h)
				st.express = st.express || h.rule.Class == "iis-express"
			case "other", "proxy":
				if st.other == nil {
					st.other = &h
				}
			}
		}
	})

	for _, f := range st.findings {
		res.Findings = append(res.Findings, Finding{Code: f.rule.Finding, Rule: f.rule.ID, Snippet: snippet([]byte(f.snippet))})
		res.Signals = append(res.Signals, Signal{Rule: f.rule.ID, Weight: WeightInfo, Detail: f.rule.Detail})
	}
	rs.decide(r, &st, &res)
	for _, h := range st.infos {
		res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightInfo, Detail: h.rule.Detail})
	}
	res.Signals = append(res.Signals, headerHints(r)...)
	return res
}

func (rs *ruleSet) decide(r *Response, st *verdictState, res *Result) {
	b := st.banner
	wire := wireCapture(r)
	// A stock IIS page copied with bare-LF line ends is an imitation,
	// whoever claims to serve it - when the bytes came off the wire. A page
	// pasted on its own has the line ends of whoever pasted it.
	var proofs, hints []hit
	for _, h := range st.iis {
		if h.rule.CRLF && wire && r.Body != nil && bareLFOnly(r.Body) {
			res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightAgainst,
				Detail: "the stock IIS page is sent with CRLF line ends; this copy uses bare LF"})
			st.imitatedPage = true
			continue
		}
		if h.rule.Strength == "proof" {
			proofs = append(proofs, h)
		} else {
			hints = append(hints, h)
		}
	}

	if b != nil && (b.rule.Class == "iis" || b.rule.Class == "iis-express") {
		res.Signals = append(res.Signals, Signal{Rule: b.rule.ID, Weight: WeightFor, Detail: b.rule.Detail + ": " + snippet([]byte(b.snippet))})
		tells := framingTells(r, rs.normIIS(b.version))
		if !wire && (r.BareLF || (r.Body != nil && bareLFOnly(r.Body))) {
			res.Signals = append(res.Signals, Signal{Rule: "framing", Weight: WeightInfo,
				Detail: "bare LF line ends not judged: this is not a whole captured response (a Server line or a header excerpt, as a person types or pastes it)"})
		}
		if st.imitatedPage {
			tells = append(tells, "a stock IIS page re-typed with bare LF line ends")
		}
		if len(tells) > 0 {
			for _, t := range tells {
				res.Signals = append(res.Signals, Signal{Rule: "framing", Weight: WeightAgainst, Detail: t})
			}
			res.Product = productImitator
			res.Signals = append(res.Signals, Signal{Rule: "verdict", Weight: WeightAgainst,
				Detail: "the Microsoft-IIS banner comes with framing IIS never produces: an imitator, not IIS"})
			return
		}
		rs.setIIS(res, b, proofs, hints, st.express || b.rule.Class == "iis-express")
		return
	}

	if b != nil && b.rule.Class == "other" {
		// A named non-IIS server answered; IIS-looking extras (ASP.NET
		// headers, copied pages) do not change who sent the reply.
		rs.setOther(res, b, WeightFor)
		for _, h := range append(proofs, hints...) {
			res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightInfo,
				Detail: h.rule.Detail + " (but the Server header names " + b.rule.Product + ")"})
		}
		return
	}

	// No banner, a proxy's banner, or one we do not know.
	known := b != nil // a proxy banner
	switch {
	case len(proofs) > 0 && (b == nil || known):
		if known {
			res.Signals = append(res.Signals, Signal{Rule: b.rule.ID, Weight: WeightInfo,
				Detail: "the Server header names a proxy or CDN (" + b.rule.Product + "); IIS evidence behind it survives"})
		}
		rs.setIIS(res, nil, proofs, hints, st.express)
	case st.other != nil:
		// The origin's own page or header names it, even behind a proxy.
		rs.setOther(res, st.other, WeightFor)
	case b == nil && r.index("Server") < 0 && len(hints) > 0:
		rs.setIIS(res, nil, nil, hints, st.express)
	case b != nil:
		rs.setOther(res, b, WeightFor)
	default:
		if r.index("Server") >= 0 {
			res.Signals = append(res.Signals, Signal{Rule: "banner", Weight: WeightInfo,
				Detail: "Server header not recognised: " + snippet([]byte(res.Server))})
		}
		for _, h := range proofs {
			res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightInfo,
				Detail: h.rule.Detail + " (not trusted under an unknown Server header)"})
		}
	}
}

func (rs *ruleSet) setIIS(res *Result, banner *hit, proofs, hints []hit, express bool) {
	res.IsIIS = true
	res.Product = ProductIIS
	if express {
		res.Product = ProductIISExpress
	}
	version := ""
	if banner != nil {
		version = rs.normIIS(banner.version)
	}
	fixedOS := ""
	for _, h := range append(proofs, hints...) {
		res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightFor, Detail: h.rule.Detail})
		v := rs.normIIS(firstNonEmpty(h.version, h.rule.Version))
		switch {
		case version == "" && v != "":
			version = v
		case version != "" && v != "" && v != version:
			res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: WeightInfo,
				Detail: "this marker suggests IIS " + v + "; the banner's " + version + " is kept"})
		}
		if fixedOS == "" && h.rule.OS != "" {
			fixedOS = h.rule.OS
		}
	}
	if version != "" {
		res.Version = &version
	}
	var os string
	switch {
	case express:
		os = "Windows" // developer desktops: the server table does not apply
	case version != "":
		if w, ok := rs.iisWindows[version]; ok {
			os = w
		} else {
			os = "Windows"
			res.Signals = append(res.Signals, Signal{Rule: "iis-version", Weight: WeightInfo,
				Detail: "Microsoft never shipped IIS " + version + "; no Windows release is inferred"})
		}
	case fixedOS != "":
		os = fixedOS
	default:
		os = "Windows"
	}
	res.OS = &os
}

func (rs *ruleSet) setOther(res *Result, h *hit, weight string) {
	res.Product = h.rule.Product
	res.Signals = append(res.Signals, Signal{Rule: h.rule.ID, Weight: weight, Detail: h.rule.Detail})
	if v := firstNonEmpty(h.version, h.rule.Version); v != "" {
		res.Version = &v
	}
	os := h.rule.OS
	if h.rule.OSFrom == "token" && h.os != "" {
		if t, ok := rs.osTokens[h.os]; ok {
			os = t
		}
	}
	if os != "" {
		res.OS = &os
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bareLFOnly reports a text whose lines end in LF with no CR anywhere.
func bareLFOnly(b []byte) bool {
	return bytes.IndexByte(b, '\n') >= 0 && bytes.IndexByte(b, '\r') < 0
}

// wireCapture reports whether r looks like a response as it came off the
// wire rather than an excerpt a person typed or pasted: a status line and
// either more than one header line or a blank line followed by a body. Only
// then do line ends say anything about the sender: `echo 'Server: ...'`, a
// banner database or a header block copied from a browser has the line ends
// of the terminal, the editor or the tool that printed it.
func wireCapture(r *Response) bool {
	if r.Proto == "" {
		return false
	}
	return len(r.Headers) > 1 || ((r.HeaderEnd || r.NoBlankLine) && len(r.Body) > 0)
}

// framingTells lists what in a response carrying a Microsoft-IIS banner IIS
// itself never sends. Bare LF is judged only on a wire capture (wireCapture);
// the other message checks only on a complete header block with a status
// line: partial captures (banner databases, header excerpts) prove nothing.
func framingTells(r *Response, version string) []string {
	var tells []string
	if r.BareLF && wireCapture(r) {
		tells = append(tells, "header lines end in bare LF; IIS always sends CRLF")
	}
	if r.Glued {
		tells = append(tells, "two headers glued on one line")
	}
	if r.Proto == "" || !(r.HeaderEnd || r.NoBlankLine) {
		return tells
	}
	if r.NoBlankLine {
		tells = append(tells, "body text follows the headers without the blank line")
	}
	date, hasDate := r.Get("Date")
	if !hasDate {
		tells = append(tells, "no Date header; IIS dates every response")
	} else if why := badDate(date); why != "" {
		tells = append(tells, why)
	}
	cl, hasCL := r.ContentLength()
	if hasCL && !r.Chunked() && int64(len(r.Body)) > cl && !r.Clipped {
		if extra := r.Body[cl:]; len(bytes.Trim(extra, "\r\n")) > 0 {
			tells = append(tells, "the body is longer than its Content-Length")
		}
	}
	if v, ok := r.Get("Connection"); ok && strings.Contains(v, "Close") {
		tells = append(tells, "\"Connection: Close\" capitalised; IIS writes \"close\"")
	}
	if r.StatusCode == 200 && hasCL && cl > 0 && r.index("Content-Type") < 0 {
		tells = append(tells, "a 200 with a body but no Content-Type")
	}
	old := version != "" && version < "6" && len(version) == 3 // "3.0".."5.1"
	if old {
		if d, s := r.index("Date"), r.index("Server"); d >= 0 && s >= 0 && d < s {
			tells = append(tells, "Date before Server; IIS "+version+" writes Server first")
		}
	}
	if !old && version != "" && len(r.Body) > 0 && !hasCL && !r.Chunked() {
		if v, _ := r.Get("Connection"); !strings.EqualFold(v, "close") {
			tells = append(tells, "a body with no Content-Length, chunking or Connection: close; HTTP.sys always frames its replies")
		}
	}
	return tells
}

// badDate explains why a Date value cannot come from IIS: IIS writes RFC
// 1123 GMT dates with the right weekday; hand-written dates often miss.
func badDate(v string) string {
	t, err := time.Parse(time.RFC1123, v)
	if err != nil || !strings.HasSuffix(v, " GMT") {
		return "Date not in IIS's RFC 1123 GMT form: " + snippet([]byte(v))
	}
	if day, _, _ := strings.Cut(v, ","); day != t.Weekday().String()[:3] {
		return "Date names the wrong weekday (" + day + "): a hand-written, frozen date"
	}
	return ""
}

// headerHints adds informational signals that help a person place an IIS
// version when the banner is gone: ETag change numbers and the IIS 5/6
// Content-Location leak.
func headerHints(r *Response) []Signal {
	var out []Signal
	if et, ok := r.Get("ETag"); ok {
		et = strings.Trim(et, "\" ")
		if i := strings.LastIndexByte(et, ':'); i >= 0 {
			n := strings.TrimSpace(et[i+1:])
			if n == "0" {
				out = append(out, Signal{Rule: "etag", Weight: WeightInfo, Detail: "ETag ends \":0\", the IIS 7+ form"})
			} else if n != "" {
				out = append(out, Signal{Rule: "etag", Weight: WeightInfo, Detail: "ETag carries a change number (\":" + snippet([]byte(n)) + "\"), the IIS 4-6 form"})
			}
		}
	}
	if _, ok := r.Get("Content-Location"); ok {
		out = append(out, Signal{Rule: "content-location", Weight: WeightInfo, Detail: "Content-Location on a default document, as IIS 4-6 send it"})
	}
	return out
}
