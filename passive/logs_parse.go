package passive

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"redsweep/fingerprint"
	"redsweep/triage"
)

// detectFormat votes over the buffered first lines. A W3C directive decides
// at once; otherwise the format most lines parse as wins ("" when none).
func detectFormat(head []headLine) string {
	votes := map[string]int{}
	for _, h := range head {
		l := bytes.TrimSpace(h.line)
		if h.tooLong || len(l) == 0 {
			continue
		}
		if isW3CDirective(l) {
			return FormatW3C
		}
		if l[0] == '#' {
			continue
		}
		switch {
		case looksAccess(l):
			votes[FormatCombined]++
		case looksError(l):
			votes[FormatApacheError]++
		case looksIPList(l):
			votes[FormatIPList]++
		}
	}
	best, n := "", 0
	for _, f := range []string{FormatCombined, FormatApacheError, FormatIPList} {
		if votes[f] > n {
			best, n = f, votes[f]
		}
	}
	return best
}

func isW3CDirective(l []byte) bool {
	for _, d := range []string{"#Fields:", "#Software:", "#Version:", "#Date:"} {
		if bytes.HasPrefix(l, []byte(d)) {
			return true
		}
	}
	return false
}

func looksAccess(l []byte) bool {
	_, _, _, _, err := splitAccess(l)
	return err == nil
}

func looksError(l []byte) bool {
	_, _, err := splitErrorPrefix(l)
	return err == nil
}

func looksIPList(l []byte) bool {
	if l[0] == '#' {
		return false
	}
	f := bytes.Fields(l)
	_, err := netip.ParseAddr(string(f[0]))
	return err == nil
}

func parserFor(format string) lineParser {
	switch format {
	case FormatCommon, FormatCombined:
		return parseAccessLine
	case FormatApacheError:
		return parseErrorLine
	case FormatW3C:
		return parseW3CLine
	case FormatIPList:
		return parseIPListLine
	}
	panic("passive: parserFor " + format) // unreachable: format validated by Ingest
}

// ---- Apache/NCSA common and combined ----------------------------------

const accessTimeLayout = "02/Jan/2006:15:04:05 -0700"

// splitAccess cuts `host ident user [time] "request" status ...`.
func splitAccess(l []byte) (host, ts, request []byte, rest []byte, err error) {
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return nil, nil, nil, nil, errors.New("no host field")
	}
	host = l[:sp]
	ob := bytes.IndexByte(l[sp:], '[')
	if ob < 0 {
		return nil, nil, nil, nil, errors.New("no [time] field")
	}
	ob += sp
	cb := bytes.IndexByte(l[ob:], ']')
	if cb < 0 {
		return nil, nil, nil, nil, errors.New("unterminated [time] field")
	}
	cb += ob
	ts = l[ob+1 : cb]
	r := l[cb+1:]
	if len(r) < 2 || r[0] != ' ' || r[1] != '"' {
		return nil, nil, nil, nil, errors.New(`no "request" field after the time`)
	}
	r = r[2:]
	// The request ends at the first quote followed by " <status>" (a quote
	// inside the request is escaped by Apache as \", so it never qualifies).
	for off := 0; ; {
		q := bytes.IndexByte(r[off:], '"')
		if q < 0 {
			return nil, nil, nil, nil, errors.New("unterminated request field")
		}
		q += off
		after := r[q+1:]
		if len(after) == 0 || (after[0] == ' ' && len(after) > 1 && (isDigit(after[1]) || after[1] == '-')) {
			return host, ts, r[:q], after, nil
		}
		off = q + 1
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func parseAccessLine(in *ingester, l []byte) (record, bool, error) {
	host, ts, req, _, err := splitAccess(l)
	if err != nil {
		return record{}, false, err
	}
	at, err := time.Parse(accessTimeLayout, string(ts))
	if err != nil {
		return record{}, false, fmt.Errorf("bad time %q", ts)
	}
	method, uri := splitRequest(req)
	m, ok := fingerprint.MatchRequest(method, uri)
	if !ok {
		return record{}, false, nil
	}
	src, err := netip.ParseAddr(string(host))
	if err != nil {
		return record{}, false, fmt.Errorf("%w: %q", errNoSource, host)
	}
	return record{src: src, at: at, match: matchResult{m.Code, true}}, false, nil
}

// splitRequest cuts "METHOD URI PROTO" (PROTO optional, HTTP/0.9 style).
func splitRequest(req []byte) (method, uri []byte) {
	sp := bytes.IndexByte(req, ' ')
	if sp < 0 {
		return req, nil
	}
	method, uri = req[:sp], req[sp+1:]
	if last := bytes.LastIndexByte(uri, ' '); last >= 0 && bytes.HasPrefix(uri[last+1:], []byte("HTTP/")) {
		uri = uri[:last]
	}
	return method, uri
}

// ---- Apache error log -------------------------------------------------

// Apache error-log time stamps carry no zone: 1.3/2.0/2.2 "Sun Aug 05
// 16:23:04 2001" (day sometimes space-padded or single digit), 2.4 adds
// microseconds "Fri Sep 09 10:42:29.902022 2011".
var errorTimeLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan _2 15:04:05.000000 2006",
	"Mon Jan 2 15:04:05.000000 2006",
}

// splitErrorPrefix cuts the leading "[time]" and returns it and the rest.
// The opening bracket may be missing (the real corpus line 32 lost it).
func splitErrorPrefix(l []byte) (ts, rest []byte, err error) {
	s := l
	if len(s) > 0 && s[0] == '[' {
		s = s[1:]
	}
	cb := bytes.IndexByte(s, ']')
	if cb < 0 || cb > 40 {
		return nil, nil, errors.New("no [time] prefix")
	}
	ts = bytes.TrimSpace(s[:cb])
	if len(ts) < 20 || !isDay(ts[:3]) || ts[3] != ' ' {
		return nil, nil, errors.New("no error-log time stamp")
	}
	return ts, s[cb+1:], nil
}

func isDay(b []byte) bool {
	switch string(b) {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

var (
	errMalformedHost = []byte("Client sent malformed Host header")
	errFileNotExist  = []byte("File does not exist: ")
	clientTag        = []byte("[client ")
)

// parseErrorLine applies the two error-log rules (issue 4, OSSEC rule 30107):
//   - "Client sent malformed Host header" → codered1-traffic. Code Red I's
//     request carries a Host header Apache rejects; the request line itself
//     is not logged.
//   - "File does not exist: <path>/default.ida" → codered2-traffic via
//     fingerprint.MatchDefaultIdaPathOnly (the query is not logged).
func parseErrorLine(in *ingester, l []byte) (record, bool, error) {
	ts, rest, err := splitErrorPrefix(l)
	if err != nil {
		return record{}, false, err
	}
	var at time.Time
	for _, layout := range errorTimeLayouts {
		if t, err := time.ParseInLocation(layout, string(ts), in.loc); err == nil {
			at = t
			break
		}
	}
	if at.IsZero() {
		return record{}, false, fmt.Errorf("bad time %q", ts)
	}
	var m matchResult
	switch {
	case bytes.Contains(rest, errMalformedHost):
		m = matchResult{triage.CodeRed1Traffic, true}
	default:
		i := bytes.Index(rest, errFileNotExist)
		if i < 0 {
			return record{}, false, nil
		}
		path := rest[i+len(errFileNotExist):]
		if j := bytes.IndexAny(path, ", "); j >= 0 { // ", referer: ..."
			path = path[:j]
		}
		fm, ok := fingerprint.MatchDefaultIdaPathOnly(path)
		if !ok {
			return record{}, false, nil
		}
		m = matchResult{fm.Code, true}
	}
	c := bytes.Index(rest, clientTag)
	if c < 0 {
		return record{}, false, errors.New("worm message without [client ...]")
	}
	cl := rest[c+len(clientTag):]
	e := bytes.IndexByte(cl, ']')
	if e < 0 {
		return record{}, false, errors.New("unterminated [client ...]")
	}
	src, err := parseClient(string(cl[:e]))
	if err != nil {
		return record{}, false, err
	}
	return record{src: src, at: at, match: m}, false, nil
}

// parseClient reads "1.2.3.4", "1.2.3.4:5678" (Apache 2.4) or "[::1]:5678".
func parseClient(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %q", errNoSource, s)
}

// ---- IIS W3C extended -------------------------------------------------

type w3cState struct {
	fields                                         bool
	n                                              int // number of fields
	date, time, cip, sip, method, stem, query, dts int // indexes, -1 when absent
}

func (w *w3cState) setFields(spec []byte) error {
	*w = w3cState{date: -1, time: -1, cip: -1, sip: -1, method: -1, stem: -1, query: -1, dts: -1}
	names := bytes.Fields(spec)
	for i, f := range names {
		switch strings.ToLower(string(f)) {
		case "date":
			w.date = i
		case "time":
			w.time = i
		case "c-ip":
			w.cip = i
		case "s-ip":
			w.sip = i
		case "cs-method":
			w.method = i
		case "cs-uri-stem":
			w.stem = i
		case "cs-uri-query":
			w.query = i
		}
	}
	w.n = len(names)
	if w.cip < 0 || w.stem < 0 {
		return errors.New("#Fields lacks c-ip or cs-uri-stem")
	}
	w.fields = true
	return nil
}

// parseW3CLine reads IIS W3C extended lines. Times are UTC (W3C extended
// logs are always written in UTC). The request is rebuilt as stem?query.
//
// A crashed IIS may log a Code Red request as stem "/default.ida" with the
// query "-": that is classified by fingerprint.MatchDefaultIdaPathOnly
// (Code Red, variant unknown, code codered2-traffic). Any other stem with a
// missing query is matched on the stem alone.
func parseW3CLine(in *ingester, l []byte) (record, bool, error) {
	w := &in.w3c
	if l[0] == '#' {
		if rest, ok := bytes.CutPrefix(l, []byte("#Fields:")); ok {
			if err := w.setFields(rest); err != nil {
				return record{}, false, err
			}
		}
		return record{}, true, nil
	}
	if !w.fields {
		return record{}, false, errors.New("data line before any #Fields directive")
	}
	var f [32][]byte
	n := 0
	for tok := range bytes.FieldsSeq(l) {
		if n == len(f) {
			return record{}, false, errors.New("too many fields")
		}
		f[n] = tok
		n++
	}
	if n != w.n {
		return record{}, false, fmt.Errorf("%d fields, #Fields names %d", n, w.n)
	}
	get := func(i int) []byte {
		if i < 0 || bytes.Equal(f[i], []byte("-")) {
			return nil
		}
		return f[i]
	}
	stem, query := get(w.stem), get(w.query)
	method := get(w.method)
	if method == nil {
		method = []byte("GET")
	}
	var m fingerprint.RequestMatch
	var ok bool
	if query == nil {
		if m, ok = fingerprint.MatchDefaultIdaPathOnly(stem); !ok {
			m, ok = fingerprint.MatchRequest(method, stem)
		}
	} else {
		in.uri = append(append(append(in.uri[:0], stem...), '?'), query...)
		m, ok = fingerprint.MatchRequest(method, in.uri)
	}
	if !ok {
		return record{}, false, nil
	}
	src, err := netip.ParseAddr(string(f[w.cip]))
	if err != nil {
		return record{}, false, fmt.Errorf("%w: %q", errNoSource, f[w.cip])
	}
	rec := record{src: src, match: matchResult{m.Code, true}}
	if s := get(w.sip); s != nil {
		rec.target, _ = netip.ParseAddr(string(s))
	}
	if d, t := get(w.date), get(w.time); d != nil && t != nil {
		at, err := time.Parse("2006-01-02 15:04:05", string(d)+" "+string(t))
		if err != nil {
			return record{}, false, fmt.Errorf("bad date/time %q %q", d, t)
		}
		rec.at = at
	}
	return rec, false, nil
}

// ---- plain IP lists ---------------------------------------------------

// listWords maps the optional second word of an iplist line to a code.
var listWords = map[string]string{
	"codered": triage.CodeRed1Traffic, "codered1": triage.CodeRed1Traffic, "cr1": triage.CodeRed1Traffic,
	"codered2": triage.CodeRed2Traffic, "coderedii": triage.CodeRed2Traffic, "cr2": triage.CodeRed2Traffic,
	"nimda": triage.NimdaTraffic, "sadmind": triage.SadmindTraffic,
	triage.CodeRed1Traffic: triage.CodeRed1Traffic, triage.CodeRed2Traffic: triage.CodeRed2Traffic,
	triage.NimdaTraffic: triage.NimdaTraffic, triage.SadmindTraffic: triage.SadmindTraffic,
	triage.IdaOverflow: triage.IdaOverflow,
}

// parseIPListLine reads "ADDR [WORM] [# comment]". WORM is one of listWords
// (case-insensitive); without it the line gets IngestOptions.ListCode. All
// entries are stamped IngestOptions.Now (a list carries no times).
func parseIPListLine(in *ingester, l []byte) (record, bool, error) {
	if i := bytes.IndexByte(l, '#'); i >= 0 {
		l = l[:i]
	}
	fields := bytes.Fields(l)
	if len(fields) == 0 {
		return record{}, true, nil
	}
	src, err := netip.ParseAddr(string(fields[0]))
	if err != nil {
		return record{}, false, fmt.Errorf("%w: %q", errNoSource, fields[0])
	}
	code := in.opt.ListCode
	if len(fields) > 1 {
		c, ok := listWords[strings.ToLower(string(fields[1]))]
		if !ok {
			return record{}, false, fmt.Errorf("unknown worm %q (want codered1, codered2, nimda, sadmind or a finding code)", fields[1])
		}
		code = c
	}
	if len(fields) > 2 {
		return record{}, false, errors.New("extra fields (want: address [worm] [# comment])")
	}
	return record{src: src, at: in.opt.Now, match: matchResult{code, true}}, false, nil
}
