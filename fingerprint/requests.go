package fingerprint

// Worm REQUEST signatures: what an infected host sends. The passive package
// (packet captures, customer logs) and anything else that sees request lines
// share these so every signature is written once.
//
// Sources for the exact wire forms:
//   - Code Red I / Code Red II: eEye and CERT IN-2001-08 / CA-2001-19; the
//     Code Red II line in shared/corpus/real (AWStats test log line 82) is
//     the complete wire form and is used by the tests.
//   - Nimda: CERT CA-2001-26 and Microsoft KB 317605 list the 16 GET
//     requests as IIS logs them (after one URL decode); Apache logs (e.g. the
//     OpenBSD Journal post of 19 Sep 2001) show the wire forms, which are
//     what a packet capture and an Apache/NCSA access log hold. Both forms
//     are in nimdaProbes.
//   - sadmind/IIS: "GET x HTTP/1.0" as given in the team brief (issue 4).
//
// MatchRequest is on the hot path of capture and log ingest: it allocates
// nothing (TestMatchRequestAllocs) and rejects ordinary requests after a few
// byte comparisons (QuickReject).

import "bytes"

// Request finding codes. The strings equal triage's passive finding codes
// (fingerprint may not import triage); triage's tests keep them in step.
const (
	CodeCodeRed1Traffic = "codered1-traffic"
	CodeCodeRed2Traffic = "codered2-traffic"
	CodeNimdaTraffic    = "nimda-traffic"
	CodeIdaOverflow     = "ida-overflow"
	CodeSadmindTraffic  = "sadmind-traffic"
	CodeInfectedReply   = "infected-reply"
)

// Worm names used in RequestMatch.Worm.
const (
	WormCodeRed1       = "Code Red"
	WormCodeRed2       = "Code Red II"
	WormCodeRedUnknown = "Code Red (variant unknown)"
	WormNimda          = "Nimda"
	WormSadmind        = "sadmind/IIS"
	WormNone           = "" // ida-overflow: an exploit attempt, not a known worm
)

// RequestMatch says which worm (if any) a request line belongs to.
type RequestMatch struct {
	Code string // a triage finding code string, e.g. "codered2-traffic"
	Worm string // "Code Red", "Code Red II", "Nimda", "sadmind/IIS", "" for ida-overflow
	Rule string // id of the signature that matched, e.g. "nimda-05"
}

// Code Red's overflow: "/default.ida?" + 224 pad bytes + the %u shellcode
// prologue. Code Red I pads with 'N', Code Red II with 'X'.
const (
	codeRedPadLen = 224
	// idaOverflowMinQuery is the query length from which a .ida/.idq request is
	// recorded as an overflow attempt. The MS01-033 overflow needs a few hundred
	// bytes (Code Red uses 224 pad + ~150 bytes of %u escapes; the sweep's own
	// ms01-033 probe uses 220); a scanner's presence check ("/NULL.ida",
	// "/x.ida?foo") is far shorter.
	idaOverflowMinQuery = 200
)

// codeRedTail is the start of the escaped shellcode that follows the pad in
// both Code Red versions ("%u9090%u6858%ucbd3%u7801%u9090...%u00=a").
var codeRedTail = []byte("%u9090%u6858%ucbd3%u7801")

var (
	pathDefaultIda = []byte("/default.ida")
	extIda         = []byte(".ida")
	extIdq         = []byte(".idq")
)

// nimdaProbe is one of Nimda's 16 directory-traversal / backdoor probes.
type nimdaProbe struct {
	rule string
	wire string // as sent on the wire and logged by Apache
	iis  string // as IIS W3C logs show it (stem "?" query after one decode); "" if the same
}

// nimdaProbes are the 16 requests Nimda sends to each target, in order.
// Entries 13 and 14 differ on the wire ("%%35%63" vs "%%35c") but IIS logs
// both as "..%35c..".
var nimdaProbes = [...]nimdaProbe{
	{"nimda-01", "/scripts/root.exe?/c+dir", ""},
	{"nimda-02", "/MSADC/root.exe?/c+dir", ""},
	{"nimda-03", "/c/winnt/system32/cmd.exe?/c+dir", ""},
	{"nimda-04", "/d/winnt/system32/cmd.exe?/c+dir", ""},
	{"nimda-05", "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir", "/scripts/..%5c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-06", "/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir", "/_vti_bin/..%5c../..%5c../..%5c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-07", "/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir", "/_mem_bin/..%5c../..%5c../..%5c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-08", "/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir", "/msadc/..%5c../..%5c../..%5c/..\xc1\x1c../..\xc1\x1c../..\xc1\x1c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-09", "/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir", "/scripts/..\xc1\x1c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-10", "/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir", "/scripts/..\xc0/../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-11", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", "/scripts/..\xc0\xaf../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-12", "/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir", "/scripts/..\xc1\x9c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-13", "/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir", "/scripts/..%35c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-14", "/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir", "/scripts/..%35c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-15", "/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir", "/scripts/..%5c../winnt/system32/cmd.exe?/c+dir"},
	{"nimda-16", "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir", "/scripts/..%2f../winnt/system32/cmd.exe?/c+dir"},
}

// NimdaProbeURIs returns the 16 Nimda probe URIs in their wire form, in the
// order Nimda sends them (for test servers and fixtures).
func NimdaProbeURIs() []string {
	out := make([]string, len(nimdaProbes))
	for i, p := range nimdaProbes {
		out[i] = p.wire
	}
	return out
}

// Nimda's follow-ups once a probe worked: fetch the worm with TFTP through
// the backdoor, then run it.
var (
	nimdaTFTP     = [...][]byte{[]byte("root.exe?/c+tftp"), []byte("cmd.exe?/c+tftp")}
	nimdaAdminDLL = []byte("/admin.dll")
)

// QuickReject reports whether uri certainly matches no request signature.
// It is a cheap pre-filter: false means "look closer", not "worm".
func QuickReject(method, uri []byte) bool {
	if len(uri) == 1 && (uri[0] == 'x' || uri[0] == 'X') {
		return false // sadmind/IIS
	}
	// Every other signature has an ".ida", ".idq", ".exe" or ".dll" in it.
	for i := 0; i+3 < len(uri); i++ {
		if uri[i] != '.' {
			continue
		}
		a, b, c := rqLower(uri[i+1]), rqLower(uri[i+2]), rqLower(uri[i+3])
		if (a == 'i' && b == 'd' && (c == 'a' || c == 'q')) ||
			(a == 'e' && b == 'x' && c == 'e') ||
			(a == 'd' && b == 'l' && c == 'l') {
			return false
		}
	}
	return true
}

// MatchRequest classifies one request line (method and request-URI as sent
// or as logged). It never allocates.
//
// Rules, in order:
//   - "/default.ida?" + exactly 224 'N' → codered1-traffic (rule
//     "codered1", or "codered1-pad" when the %u shellcode tail is missing,
//     e.g. a log that cut the line)
//   - the same with 224 'X' → codered2-traffic ("codered2", "codered2-pad")
//   - any other .ida/.idq request whose query is at least 200 bytes →
//     ida-overflow (an exploit attempt, not a worm). A short probe such as a
//     scanner's "/NULL.ida" matches nothing.
//   - the 16 Nimda probes (wire or IIS-logged form, ASCII case-insensitive)
//     → nimda-traffic ("nimda-01".."nimda-16"); Nimda's follow-ups
//     "root.exe?/c+tftp", "cmd.exe?/c+tftp" ("nimda-tftp") and a path ending
//     in "/Admin.dll" ("nimda-admin-dll")
//   - GET "x" → sadmind-traffic ("sadmind-get-x")
func MatchRequest(method, uri []byte) (RequestMatch, bool) {
	if QuickReject(method, uri) {
		return RequestMatch{}, false
	}
	if len(uri) == 1 {
		if bytes.Equal(method, []byte("GET")) && uri[0] == 'x' {
			return RequestMatch{Code: CodeSadmindTraffic, Worm: WormSadmind, Rule: "sadmind-get-x"}, true
		}
		return RequestMatch{}, false
	}
	path, query, hasQuery := rqCut(uri, '?')
	if rqHasSuffixFold(path, extIda) || rqHasSuffixFold(path, extIdq) {
		return matchIda(path, query, hasQuery)
	}
	for i := range nimdaProbes {
		p := &nimdaProbes[i]
		if rqEqualFoldString(uri, p.wire) || (p.iis != "" && rqEqualFoldString(uri, p.iis)) {
			return RequestMatch{Code: CodeNimdaTraffic, Worm: WormNimda, Rule: p.rule}, true
		}
	}
	for _, t := range nimdaTFTP {
		if rqIndexFold(uri, t) >= 0 {
			return RequestMatch{Code: CodeNimdaTraffic, Worm: WormNimda, Rule: "nimda-tftp"}, true
		}
	}
	if rqHasSuffixFold(path, nimdaAdminDLL) {
		return RequestMatch{Code: CodeNimdaTraffic, Worm: WormNimda, Rule: "nimda-admin-dll"}, true
	}
	return RequestMatch{}, false
}

func matchIda(path, query []byte, hasQuery bool) (RequestMatch, bool) {
	if !hasQuery {
		return RequestMatch{}, false
	}
	if rqEqualFold(path, pathDefaultIda) && len(query) >= codeRedPadLen {
		pad := query[0]
		if pad == 'N' || pad == 'X' {
			n := 0
			for n < len(query) && query[n] == pad {
				n++
			}
			if n == codeRedPadLen {
				tail := bytes.HasPrefix(query[n:], codeRedTail)
				switch {
				case pad == 'N' && tail:
					return RequestMatch{Code: CodeCodeRed1Traffic, Worm: WormCodeRed1, Rule: "codered1"}, true
				case pad == 'N':
					return RequestMatch{Code: CodeCodeRed1Traffic, Worm: WormCodeRed1, Rule: "codered1-pad"}, true
				case tail:
					return RequestMatch{Code: CodeCodeRed2Traffic, Worm: WormCodeRed2, Rule: "codered2"}, true
				default:
					return RequestMatch{Code: CodeCodeRed2Traffic, Worm: WormCodeRed2, Rule: "codered2-pad"}, true
				}
			}
		}
	}
	if len(query) >= idaOverflowMinQuery {
		return RequestMatch{Code: CodeIdaOverflow, Worm: WormNone, Rule: "ida-overflow"}, true
	}
	return RequestMatch{}, false
}

// MatchDefaultIdaPathOnly handles logs that record only the path of a
// request to /default.ida, without its query: an Apache error log ("File does
// not exist: .../default.ida") or an IIS W3C line whose cs-uri-query is "-"
// because the overflow crashed the ISAPI before IIS logged it. Code Red is the
// only mass sender of GET /default.ida (scanners probe other names such as
// /NULL.ida), so this is Code Red; the pad that tells I from II is not there.
//
// Rule (documented for the passive package): the result's Code is
// codered2-traffic — in a log where the query is missing we cannot tell the
// variant, both imply "infected", and from 4 Aug 2001 Code Red II was by far
// the commoner sender of /default.ida (its local-preference scanning hits
// neighbours first, which is what an ISP's customers' logs see). Worm says
// "Code Red (variant unknown)" and Rule "default-ida-path-only" so nothing is
// overstated downstream.
func MatchDefaultIdaPathOnly(path []byte) (RequestMatch, bool) {
	if !rqHasSuffixFold(path, pathDefaultIda) {
		return RequestMatch{}, false
	}
	return RequestMatch{Code: CodeCodeRed2Traffic, Worm: WormCodeRedUnknown, Rule: "default-ida-path-only"}, true
}

// replySig is a byte pattern an infected server sends back.
type replySig struct {
	rule, worm string
	pat        []byte
}

// replySigs: what an infected server puts on the wire in its answers.
var replySigs = [...]replySig{
	{"reply-nimda-readme-eml", WormNimda, []byte(`window.open("readme.eml"`)},
	{"reply-codered1-defaced", WormCodeRed1, []byte("Hacked By Chinese!")},
	// cmd.exe's "dir" output served through a backdoor (root.exe / traversal):
	// IIS wraps it in its CGI error page or returns it raw.
	{"reply-cmd-dir-output", "", []byte("Volume Serial Number is")},
	{"reply-cmd-dir-output", "", []byte(" Directory of c:\\")},
}

// MatchReply looks for an infected server's answer in the first bytes of an
// HTTP response (status line, headers and the start of the body). Code is
// always infected-reply. It never allocates.
func MatchReply(head []byte) (RequestMatch, bool) {
	if len(head) < 5 || !bytes.HasPrefix(head, []byte("HTTP/")) {
		return RequestMatch{}, false
	}
	for i := range replySigs {
		s := &replySigs[i]
		if rqIndexFold(head, s.pat) >= 0 {
			return RequestMatch{Code: CodeInfectedReply, Worm: s.worm, Rule: s.rule}, true
		}
	}
	return RequestMatch{}, false
}

func rqLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func rqCut(b []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

func rqEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if rqLower(a[i]) != rqLower(b[i]) {
			return false
		}
	}
	return true
}

func rqEqualFoldString(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if rqLower(a[i]) != rqLower(b[i]) {
			return false
		}
	}
	return true
}

func rqHasSuffixFold(b, suffix []byte) bool {
	return len(b) >= len(suffix) && rqEqualFold(b[len(b)-len(suffix):], suffix)
}

// rqIndexFold is an ASCII case-insensitive bytes.Index without allocation.
func rqIndexFold(s, pat []byte) int {
	if len(pat) == 0 {
		return 0
	}
	first := rqLower(pat[0])
	for i := 0; i+len(pat) <= len(s); i++ {
		if rqLower(s[i]) != first {
			continue
		}
		if rqEqualFold(s[i:i+len(pat)], pat) {
			return i
		}
	}
	return -1
}
