package fingerprint

import (
	"bytes"
	"strconv"
	"strings"
)

// Parser limits. Callers cap reads at 64 KiB, but Parse must stay cheap on
// anything: a 10 MB header line or an endless body costs at most one bounded
// scan and no copy of the excess.
const (
	MaxHeaders     = 100      // headers kept; later ones are dropped (Clipped)
	MaxHeaderBlock = 64 << 10 // bytes of status line + headers examined
	MaxHeaderValue = 4 << 10  // bytes kept of one header value
	MaxBody        = 1 << 20  // bytes of body kept (a sub-slice of the input, not a copy)
	maxLeadingJunk = 64       // blank lines tolerated before the first line
)

// Parse reads raw response bytes tolerantly: a full response, a header block
// with or without its status line, a single header line, a body alone, bare-LF
// line ends, or input cut anywhere. It never panics and never copies the body.
func Parse(raw []byte) Response {
	var r Response
	i := 0
	for i < len(raw) && i < maxLeadingJunk && (raw[i] == '\r' || raw[i] == '\n') {
		i++
	}
	p := raw[i:]
	if len(p) == 0 {
		return r
	}
	// Header names, values and the status line are substrings of one string
	// made from the header block: one allocation however many headers.
	blockLen := min(len(p), MaxHeaderBlock)
	hasStatus := bytes.HasPrefix(p, []byte("HTTP/"))
	if !hasStatus && !looksLikeHeaderLine(p[:blockLen]) {
		var cut bool
		r.Body, cut = clipBody(p)
		r.Clipped = r.Clipped || cut
		return r
	}
	end := headerBlockEnd(p[:blockLen])
	block := string(p[:end])
	pos := 0
	if hasStatus {
		line, next, bare, ok := nextLine(block, pos)
		r.BareLF = r.BareLF || bare
		parseStatusLine(&r, line)
		pos = next
		if !ok {
			r.Truncated = true
			r.Clipped = r.Clipped || end < len(p)
			return r
		}
	}
	bodyStart := -1
	for {
		if pos >= len(block) {
			// The block ended without a blank line: input ran out, or the
			// block limit was hit.
			r.Truncated = true
			if end < len(p) {
				r.Clipped = true
			}
			break
		}
		line, next, bare, ok := nextLine(block, pos)
		if len(line) == 0 {
			if !ok { // input ended on a lone CR
				r.Truncated = true
				break
			}
			r.BareLF = r.BareLF || bare
			r.HeaderEnd = true
			bodyStart = next
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Obsolete line folding: continue the previous value.
			r.BareLF = r.BareLF || (bare && ok)
			if n := len(r.Headers); n > 0 {
				v := r.Headers[n-1].Value + " " + strings.TrimSpace(line)
				if len(v) > MaxHeaderValue {
					v, r.Clipped = v[:MaxHeaderValue], true
				}
				r.Headers[n-1].Value = v
			}
			pos = next
			if !ok {
				r.Truncated = true
				break
			}
			continue
		}
		name, value, isHeader := splitHeader(line)
		if !isHeader {
			// Text where a header should be: the sender left out the
			// blank line and started the body.
			r.NoBlankLine = true
			bodyStart = pos
			break
		}
		r.BareLF = r.BareLF || (bare && ok)
		if len(value) > MaxHeaderValue {
			value, r.Clipped = value[:MaxHeaderValue], true
		}
		if gluedHeader(value) {
			r.Glued = true
		}
		if len(r.Headers) < MaxHeaders {
			if r.Headers == nil {
				r.Headers = make([]Header, 0, 16)
			}
			r.Headers = append(r.Headers, Header{Name: name, Value: value})
		} else {
			r.Clipped = true
		}
		pos = next
		if !ok {
			r.Truncated = true // last header line cut off
			break
		}
	}
	if !r.HeaderEnd && !r.NoBlankLine && end < len(p) {
		r.Clipped = true // the header block limit cut the input
	}
	if bodyStart < 0 {
		return r
	}
	var cut bool
	r.Body, cut = clipBody(p[bodyStart:])
	r.Clipped = r.Clipped || cut
	if cl, ok := r.ContentLength(); ok && !r.Chunked() && int64(len(p)-bodyStart) < cl {
		r.Truncated = true
	}
	return r
}

// clipBody returns b capped at MaxBody (nil when empty) and whether it was cut.
func clipBody(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	if len(b) > MaxBody {
		return b[:MaxBody:MaxBody], true
	}
	return b[:len(b):len(b)], false
}

// headerBlockEnd returns the length of the header block in p: up to and
// including the first empty line, or all of p when there is none.
func headerBlockEnd(p []byte) int {
	off := 0
	for off < len(p) {
		nl := bytes.IndexByte(p[off:], '\n')
		if nl < 0 {
			return len(p)
		}
		line := p[off : off+nl]
		off += nl + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return off
		}
	}
	return len(p)
}

// nextLine returns the line starting at pos without its line end, the
// position after it, whether it ended in a bare LF, and whether a line end
// was seen at all (false: the input stopped mid-line).
func nextLine(s string, pos int) (line string, next int, bareLF, ended bool) {
	rest := s[pos:]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return strings.TrimSuffix(rest, "\r"), len(s), false, false
	}
	line = rest[:nl]
	if strings.HasSuffix(line, "\r") {
		return line[:len(line)-1], pos + nl + 1, false, true
	}
	return line, pos + nl + 1, true, true
}

func parseStatusLine(r *Response, line string) {
	proto, rest, _ := strings.Cut(line, " ")
	r.Proto = proto
	rest = strings.TrimLeft(rest, " ")
	code, reason, _ := strings.Cut(rest, " ")
	if len(code) == 3 {
		if n, err := strconv.Atoi(code); err == nil && n >= 100 {
			r.StatusCode = n
		}
	}
	if len(reason) > MaxHeaderValue {
		reason, r.Clipped = reason[:MaxHeaderValue], true
	}
	r.Reason = reason
}

// splitHeader splits "Name: value". Names are RFC 9110 tokens; a space
// before the colon is tolerated (some tools print "Name : value").
func splitHeader(line string) (name, value string, ok bool) {
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || colon > 256 {
		return "", "", false
	}
	name = strings.TrimRight(line[:colon], " \t")
	if name == "" {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", "", false
		}
	}
	return name, strings.Trim(line[colon+1:], " \t"), true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// looksLikeHeaderLine reports whether p starts with a "Name: value" line,
// which tells a header block without status line from a body.
func looksLikeHeaderLine(p []byte) bool {
	line := p
	if nl := bytes.IndexByte(p, '\n'); nl >= 0 {
		line = p[:nl]
	}
	if len(line) > 512 {
		line = line[:512]
	}
	_, _, ok := splitHeader(string(bytes.TrimSuffix(line, []byte("\r"))))
	return ok
}

// gluedNames are headers an imitator most often glues onto the line before
// (a missing CRLF): "Server: Microsoft-IIS/6.0Content-Type: text/html".
var gluedNames = []string{
	"content-type", "content-length", "date", "server", "connection", "set-cookie",
	"x-powered-by", "cache-control", "last-modified", "etag", "location", "accept-ranges",
	"content-location", "expires", "pragma", "x-aspnet-version",
}

// gluedHeader reports whether a value contains "Known-Header:" glued into it.
func gluedHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != ':' {
			continue
		}
		j := i
		for j > 0 && (isLetter(v[j-1]) || v[j-1] == '-') {
			j--
		}
		if j == i || j == 0 {
			continue // nothing before the colon, or the run is the whole value
		}
		word := v[j:i]
		for _, n := range gluedNames {
			if strings.EqualFold(word, n) {
				return true
			}
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Get returns the value of the first header named name (case-insensitive).
func (r *Response) Get(name string) (string, bool) {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Name, name) {
			return r.Headers[i].Value, true
		}
	}
	return "", false
}

// index returns the wire position of the first header named name, or -1.
func (r *Response) index(name string) int {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Name, name) {
			return i
		}
	}
	return -1
}

// ContentLength returns the declared Content-Length when it is a valid number.
func (r *Response) ContentLength() (int64, bool) {
	v, ok := r.Get("Content-Length")
	if !ok || v == "" || len(v) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Chunked reports a chunked Transfer-Encoding.
func (r *Response) Chunked() bool {
	v, ok := r.Get("Transfer-Encoding")
	return ok && strings.Contains(strings.ToLower(v), "chunked")
}

// Problem says in a few words why r is not a well-formed HTTP response, or
// returns "" when it is one: a valid status line and a header block ended by
// its blank line (bare LF line ends are accepted, as HTTP clients accept
// them), with no less body than a Content-Length declares. It describes the
// bytes Parse saw: a scanner can give it as the reason for a protocol error.
func (r *Response) Problem() string {
	switch {
	case r.Proto == "" && len(r.Headers) == 0 && len(r.Body) == 0:
		return "empty response"
	case r.Proto == "" && len(r.Headers) > 0:
		return "no status line: header lines without one"
	case r.Proto == "" && looksBinary(r.Body):
		return "no status line: binary data, not HTTP"
	case r.Proto == "":
		return "no status line: a bare body (HTTP/0.9 style or not HTTP)"
	case !validProto(r.Proto) || r.StatusCode == 0:
		return "malformed status line"
	case !r.HeaderEnd && !r.NoBlankLine && len(r.Headers) == 0 && !r.Clipped:
		return "status line only: the header block never ended"
	case !r.HeaderEnd && !r.NoBlankLine && r.Clipped:
		return "header block not ended within " + strconv.Itoa(MaxHeaderBlock) + " bytes"
	case !r.HeaderEnd && !r.NoBlankLine:
		return "header block never ended"
	case r.NoBlankLine && cutHeaderName(r.Body):
		return "header block never ended" // "Content-Ty" and the input ends
	case r.NoBlankLine:
		return "no blank line between the headers and the body"
	case r.Truncated:
		return "body shorter than its Content-Length"
	}
	return ""
}

// cutHeaderName: what Parse took for body text is only the start of a header
// name, cut off by the end of the input.
func cutHeaderName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

// validProto: "HTTP/" digit "." digit, or "HTTP/" digit as curl prints
// HTTP/2 and HTTP/3 replies (HTTP/0.9 has no status line at all).
func validProto(p string) bool {
	v, ok := strings.CutPrefix(p, "HTTP/")
	switch {
	case !ok || len(v) == 0 || !isDigitByte(v[0]):
		return false
	case len(v) == 1:
		return true
	}
	return len(v) == 3 && v[1] == '.' && isDigitByte(v[2])
}

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

// looksBinary: a NUL, or more than one byte in ten a control character other
// than tab, CR, LF (text in any 8-bit charset passes), in the first 512 bytes.
func looksBinary(b []byte) bool {
	b = b[:min(len(b), 512)]
	ctl := 0
	for _, c := range b {
		switch {
		case c == 0:
			return true
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n', c == 0x7f:
			ctl++
		}
	}
	return ctl*10 > len(b)
}
