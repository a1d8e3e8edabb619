package passive

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/tcpassembly"

	"redsweep/fingerprint"
)

// streamFactory makes one httpStream per direction of each TCP connection.
type streamFactory struct {
	e    *engine
	live int // streams opened and not yet complete
}

func (f *streamFactory) New(netFlow, tcpFlow gopacket.Flow) tcpassembly.Stream {
	f.live++
	f.e.st.Streams++
	src, _ := netip.AddrFromSlice(netFlow.Src().Raw())
	dst, _ := netip.AddrFromSlice(netFlow.Dst().Raw())
	return &httpStream{f: f, src: src.Unmap(), dst: dst.Unmap()}
}

// httpStream keeps the first MaxRequestHead bytes of one direction and looks
// in them for worm requests (client → server: the source is the infected
// client) or an infected reply (server → client: the source is the infected
// server). Once done, it drops its buffer and ignores the rest.
type httpStream struct {
	f        *streamFactory
	src, dst netip.Addr
	buf      []byte
	pos      int  // start of the next unparsed request in buf
	inHeader bool // pos is inside a request's headers
	done     bool
}

func (s *httpStream) Reassembled(rs []tcpassembly.Reassembly) {
	for _, r := range rs {
		if s.done {
			return
		}
		if r.Skip > 0 && len(s.buf) > 0 {
			// Bytes lost in the middle: what follows cannot be parsed reliably.
			s.finish()
			return
		}
		room := s.f.e.opt.MaxRequestHead - len(s.buf)
		b := r.Bytes
		if len(b) > room {
			b = b[:room]
		}
		s.buf = append(s.buf, b...)
		s.scan(r.Seen)
		if !s.done && len(s.buf) >= s.f.e.opt.MaxRequestHead {
			s.finish()
		}
	}
}

func (s *httpStream) ReassemblyComplete() {
	if !s.done {
		s.scan(time.Time{})
		s.finish()
	}
	s.f.live--
}

func (s *httpStream) finish() {
	s.done = true
	s.buf = nil
}

var httpPrefix = []byte("HTTP/")

// scan parses what is new in buf. seen is the capture time of the segment
// that completed it (zero at stream end: the engine's latest time is used).
func (s *httpStream) scan(seen time.Time) {
	if seen.IsZero() {
		seen = s.f.e.now
	}
	e := s.f.e
	if len(s.buf) < len(httpPrefix) {
		return
	}
	if bytes.HasPrefix(s.buf, httpPrefix) {
		// A response. Look until a match or until the buffer is full / the
		// stream ends (so a reply's body start is in view).
		if m, ok := fingerprint.MatchReply(s.buf); ok {
			e.st.Replies++
			e.record(s.src, m.Code, seen, s.dst, 1, replySample(s.buf, m.Rule))
			s.finish()
		}
		return
	}
	for !s.done {
		rest := s.buf[s.pos:]
		if !s.inHeader {
			nl := bytes.IndexByte(rest, '\n')
			if nl < 0 {
				return // wait for the rest of the request line
			}
			line := bytes.TrimRight(rest[:nl], "\r")
			method, uri := splitRequest(line)
			if !isMethod(method) {
				s.finish() // not HTTP (or not a request we can read)
				return
			}
			e.st.Requests++
			if m, ok := fingerprint.MatchRequest(method, uri); ok {
				e.record(s.src, m.Code, seen, s.dst, 1, line)
			}
			s.pos += nl + 1
			s.inHeader = true
			continue
		}
		// Skip headers (and a body of Content-Length bytes) to the next request.
		end, n := headerEnd(rest)
		if end < 0 {
			return
		}
		body := contentLength(rest[:end])
		if end+n+body > len(rest) {
			if s.pos+end+n+body >= e.opt.MaxRequestHead {
				s.finish() // the next request starts beyond what we keep
			}
			return
		}
		s.pos += end + n + body
		s.inHeader = false
	}
}

func headerEnd(b []byte) (at, n int) {
	if len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		return 0, 2 // no headers at all (HTTP/1.0 "GET x HTTP/1.0\r\n\r\n")
	}
	if len(b) >= 1 && b[0] == '\n' {
		return 0, 1
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 2, 2
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return i + 1, 1
	}
	return -1, 0
}

func contentLength(h []byte) int {
	i := bytesIndexFold(h, []byte("\ncontent-length:"))
	if i < 0 {
		return 0
	}
	v := h[i+len("\ncontent-length:"):]
	if nl := bytes.IndexByte(v, '\n'); nl >= 0 {
		v = v[:nl]
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func bytesIndexFold(s, pat []byte) int {
	return bytes.Index(bytes.ToLower(s), pat)
}

// isMethod: 1–16 upper-case letters (GET, HEAD, POST, SEARCH, PROPFIND, ...).
func isMethod(m []byte) bool {
	if len(m) == 0 || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func replySample(buf []byte, rule string) []byte {
	line := buf
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = bytes.TrimRight(line[:nl], "\r")
	}
	return []byte(string(line) + " [" + rule + "]")
}
