package fingerprint

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type want struct {
		proto                   string
		status                  int
		reason                  string
		headers                 []Header
		body                    string
		bareLF, truncated, end  bool
		glued, noBlank, clipped bool
	}
	tests := []struct {
		name string
		raw  string
		want want
	}{
		{"full", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nContent-Length: 2\r\n\r\nhi",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Server", "Microsoft-IIS/5.0"}, {"Content-Length", "2"}}, body: "hi", end: true}},
		{"headers without status line", "server: Microsoft-IIS/6.0\r\nX-Powered-By: ASP.NET\r\n",
			want{headers: []Header{{"server", "Microsoft-IIS/6.0"}, {"X-Powered-By", "ASP.NET"}}, truncated: true}},
		{"single server line without newline", "Server: Apache/1.3.20",
			want{headers: []Header{{"Server", "Apache/1.3.20"}}, truncated: true}},
		{"body only", "<html><title>IIS7</title></html>", want{body: "<html><title>IIS7</title></html>"}},
		{"leading blank lines", "\r\n\r\nHTTP/1.0 404 Object Not Found\r\n\r\n",
			want{proto: "HTTP/1.0", status: 404, reason: "Object Not Found", end: true}},
		{"bare LF", "HTTP/1.1 200 OK\nServer: x\n\nbody\n",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Server", "x"}}, body: "body\n", bareLF: true, end: true}},
		{"status line only", "HTTP/1.1 403 Forbidden ( The ISA Server denied it.  )\r\n",
			want{proto: "HTTP/1.1", status: 403, reason: "Forbidden ( The ISA Server denied it.  )", truncated: true}},
		{"truncated status line", "HTTP/1.1 20", want{proto: "HTTP/1.1", truncated: true}},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", want{proto: "HTTP/1.1", status: 204, end: true}},
		{"garbage status code", "HTTP/1.1 abc Nope\r\n\r\n", want{proto: "HTTP/1.1", reason: "Nope", end: true}},
		{"short body is truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Content-Length", "10"}}, body: "abc", truncated: true, end: true}},
		{"chunked is not truncated", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n3\r\nabc",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Transfer-Encoding", "chunked"}, {"Content-Length", "10"}}, body: "3\r\nabc", end: true}},
		{"missing blank line", "HTTP/1.1 200 OK\r\nServer: x\r\n<html>hi</html>",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Server", "x"}}, body: "<html>hi</html>", noBlank: true}},
		{"glued headers", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/6.0Content-Type: text/html\r\n\r\n",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Server", "Microsoft-IIS/6.0Content-Type: text/html"}}, glued: true, end: true}},
		{"urls and times are not glued", "HTTP/1.1 200 OK\r\nContent-Location: http://h/Default.htm\r\nDate: Fri, 01 Jan 1999 20:13:52 GMT\r\nETag: W/e0d362a4c335be1: ae1\r\n\r\n",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Content-Location", "http://h/Default.htm"}, {"Date", "Fri, 01 Jan 1999 20:13:52 GMT"}, {"ETag", "W/e0d362a4c335be1: ae1"}}, end: true}},
		{"folded header", "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\n\r\n",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"X-Long", "a b"}}, end: true}},
		{"space before colon", "HTTP/1.1 200 OK\r\nServer : IIS\r\n\r\n",
			want{proto: "HTTP/1.1", status: 200, reason: "OK", headers: []Header{{"Server", "IIS"}}, end: true}},
		{"empty", "", want{}},
		{"ends on a lone CR (fuzz)", "HTTP/\n\r", want{proto: "HTTP/", truncated: true, bareLF: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Parse([]byte(tc.raw))
			w := tc.want
			if r.Proto != w.proto || r.StatusCode != w.status || r.Reason != w.reason {
				t.Errorf("status = %q %d %q; want %q %d %q", r.Proto, r.StatusCode, r.Reason, w.proto, w.status, w.reason)
			}
			if len(r.Headers) != len(w.headers) {
				t.Fatalf("headers = %+v; want %+v", r.Headers, w.headers)
			}
			for i := range w.headers {
				if r.Headers[i] != w.headers[i] {
					t.Errorf("header %d = %+v; want %+v", i, r.Headers[i], w.headers[i])
				}
			}
			if string(r.Body) != w.body {
				t.Errorf("body = %q; want %q", r.Body, w.body)
			}
			flags := [][3]any{
				{"BareLF", r.BareLF, w.bareLF}, {"Truncated", r.Truncated, w.truncated}, {"HeaderEnd", r.HeaderEnd, w.end},
				{"Glued", r.Glued, w.glued}, {"NoBlankLine", r.NoBlankLine, w.noBlank}, {"Clipped", r.Clipped, w.clipped},
			}
			for _, f := range flags {
				if f[1] != f[2] {
					t.Errorf("%s = %v; want %v", f[0], f[1], f[2])
				}
			}
		})
	}
}

// Limits: whatever the input, what Parse keeps is bounded.
func TestParseLimits(t *testing.T) {
	huge := strings.Repeat("a", 10<<20)
	tests := []struct {
		name string
		raw  string
	}{
		{"10 MB header line", "HTTP/1.1 200 OK\r\nX-Junk: " + huge + "\r\n\r\n"},
		{"10 MB status line", "HTTP/1.1 200 " + huge},
		{"10 MB header line without status", "X-Junk: " + huge},
		{"many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: b\r\n", 5000) + "\r\nbody"},
		{"endless body", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n" + huge},
		{"endless folding", "HTTP/1.1 200 OK\r\nX: a\r\n" + strings.Repeat(" b\r\n", 20000) + "\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			r := Parse(raw)
			checkBounded(t, raw, &r)
			if !r.Clipped {
				t.Errorf("Clipped not set on oversized input")
			}
		})
	}
}

// checkBounded asserts the parser's size limits and that Body aliases the
// input rather than copying it.
func checkBounded(t *testing.T, raw []byte, r *Response) {
	t.Helper()
	if len(r.Headers) > MaxHeaders {
		t.Fatalf("%d headers kept, limit %d", len(r.Headers), MaxHeaders)
	}
	for _, h := range r.Headers {
		if len(h.Value) > MaxHeaderValue || len(h.Name) > 256 {
			t.Fatalf("header %.20q kept %d bytes", h.Name, len(h.Value))
		}
	}
	if len(r.Reason) > MaxHeaderValue {
		t.Fatalf("reason kept %d bytes", len(r.Reason))
	}
	if len(r.Body) > MaxBody {
		t.Fatalf("body kept %d bytes, limit %d", len(r.Body), MaxBody)
	}
	if len(r.Body) > 0 && !bytes.Contains(raw, r.Body[:min(len(r.Body), 64)]) {
		t.Fatalf("body is not from the input")
	}
}

// The parse of a typical response costs a fixed, small number of
// allocations: one string for the header block and the header slice.
func TestParseAllocs(t *testing.T) {
	raw := []byte(iis5Response)
	n := testing.AllocsPerRun(100, func() { _ = Parse(raw) })
	if n > 2 {
		t.Fatalf("Parse allocates %.0f times per call; want at most 2", n)
	}
}

// TestProblem: the reason a hostile or broken server's reply is not HTTP,
// and "" for every well-formed reply (bare LF included).
func TestProblem(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"full", "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nhi", ""},
		{"bare LF", "HTTP/1.1 200 OK\nServer: x\n\nbody\n", ""},
		{"no headers at all", "HTTP/1.0 404 Object Not Found\r\n\r\n", ""},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", ""},
		{"curl's HTTP/2 rendering", "HTTP/2 200\r\nserver: x\r\n\r\n", ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc", ""},
		{"empty", "", "empty response"},
		{"blank lines only", "\r\n\r\n", "empty response"},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "no status line: binary data, not HTTP"},
		{"binary without NUL", "\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03abc", "no status line: binary data, not HTTP"},
		{"HTTP/0.9 body", "<html><body>It works</body></html>\n", "no status line: a bare body (HTTP/0.9 style or not HTTP)"},
		{"8-bit text body", "<p>Caf\xe9 cr\xe8me br\xfbl\xe9e</p>", "no status line: a bare body (HTTP/0.9 style or not HTTP)"},
		{"headers without status line", "Server: x\r\nContent-Type: text/html\r\n\r\n", "no status line: header lines without one"},
		{"status line only", "HTTP/1.1 200 OK\r\n", "status line only: the header block never ended"},
		{"status line cut", "HTTP/1.1 200 O", "status line only: the header block never ended"},
		{"status code missing", "HTTP/1.1 20", "malformed status line"},
		{"status code not a number", "HTTP/1.1 abc Nope\r\n\r\n", "malformed status line"},
		{"bad version", "HTTP/x 200 OK\r\n\r\n", "malformed status line"},
		{"bare HTTP/", "HTTP/\n\r", "malformed status line"},
		{"header block cut", "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Ty", "header block never ended"},
		{"header block without blank line at EOF", "HTTP/1.1 200 OK\r\nServer: x\r\n", "header block never ended"},
		{"endless header block", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 2000), "header block not ended within 65536 bytes"},
		{"missing blank line", "HTTP/1.1 200 OK\r\nServer: x\r\n<html>hi</html>", "no blank line between the headers and the body"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "body shorter than its Content-Length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Parse([]byte(tc.raw))
			if got := r.Problem(); got != tc.want {
				t.Errorf("Problem() = %q, want %q (%+v)", got, tc.want, r)
			}
		})
	}
}
