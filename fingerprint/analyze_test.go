package fingerprint

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

func codes(r Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

const iisHead = "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\n\r\n"

// Artefacts on the real forms of the sweep's probe replies, and the
// look-alikes that must not count.
func TestArtefacts(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"code red I page", iisHead + `<html><head><meta http-equiv="Content-Type" content="text/html; charset=English"><title>HELLO!</title></head><bad><hr size=5><font color="red"><p align="center">Welcome to http://www.worm.com !<br><br>Hacked By Chinese!</font></hr></bad></html>`, []string{ArtCodeRed1Defaced}},
		{"article quoting code red I", iisHead + `<p>Defaced pages read &lt;title&gt;HELLO!&lt;/title&gt; and "Hacked By Chinese!".</p>`, nil},
		{"nimda appended script", iisHead + "<html><body>Shop</body></html>\r\n<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>", []string{ArtNimdaContent}},
		{"nimda script, single quotes and spacing", iisHead + "<SCRIPT language=JavaScript>\r\n window.open( 'readme.eml' , null,'resizable=no')</SCRIPT>", []string{ArtNimdaContent}},
		{"page mentioning readme.eml", iisHead + "<p>Delete any readme.eml file Nimda left; do not open readme.eml.</p>", nil},
		{"advisory quoting the script escaped", iisHead + "<pre>&lt;script language=&quot;JavaScript&quot;&gt;window.open(&quot;readme.eml&quot;, null, ...)</pre>", nil},
		{"nimda readme.eml", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Tue, 18 Sep 2001 10:00:00 GMT\r\nContent-Type: message/rfc822\r\n\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"multipart/alternative\";\r\n\tboundary=\"====_ABC1234567890DEF_====\"\r\nX-Priority: 3\r\n\r\n--====_ABC1234567890DEF_====\r\nContent-Type: multipart/alternative;\r\n\tboundary=\"====_ABC0987654321DEF_====\"\r\n\r\n--====_ABC0987654321DEF_====\r\nContent-Type: text/html;\r\n\tcharset=\"iso-8859-1\"\r\n\r\n<HTML><HEAD></HEAD><BODY bgColor=3D#ffffff>\r\n<iframe src=3Dcid:EA4DMGBP9p height=3D0 width=3D0>\r\n</iframe></BODY></HTML>\r\n--====_ABC0987654321DEF_====--\r\n\r\n--====_ABC1234567890DEF_====\r\nContent-Type: audio/x-wav;\r\n\tname=\"readme.exe\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <EA4DMGBP9p>\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAA\r\n", []string{ArtNimdaReadmeEML}},
		{"readme.eml body only", "MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\tboundary=\"b\"\r\n\r\n--b\r\nContent-Type: audio/x-wav;\r\n\tname=\"readme.exe\"\r\n\r\nTVqQ\r\n", []string{ArtNimdaReadmeEML}},
		{"advisory naming readme.exe", iisHead + "<p>The attachment readme.exe is declared as audio/x-wav so Outlook runs it.</p>", nil},
		{"code red II root.exe ver", "HTTP/1.1 502 Gateway Error\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nConnection: close\r\nContent-Length: 219\r\nContent-Type: text/html\r\n\r\n<head><title>Error in CGI Application</title></head>\r\n<body><h1>CGI Error</h1>The specified CGI application misbehaved by not returning a complete set of HTTP headers.  The headers it did return are:<p><p><pre>\r\nMicrosoft Windows 2000 [Version 5.00.2195]\r\n</pre>", []string{ArtCGICmdOutput}},
		{"NT4 cmd ver", iisHead + "<h1>CGI Error</h1>The specified CGI application misbehaved by not returning a complete set of HTTP headers.  The headers it did return are:<p><p><pre>\r\n\r\nWindows NT Version 4.0  \r\n</pre>", []string{ArtCGICmdOutput}},
		{"CGI error from a broken perl script", iisHead + "<h1>CGI Error</h1>The specified CGI application misbehaved by not returning a complete set of HTTP headers.  The headers it did return are:<p><p><pre>\r\nCan't locate Foo.pm in @INC\r\n</pre>", nil},
		{"NULL.ida with the mapping", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\n\r\n<HTML>The IDQ file C:\\Inetpub\\wwwroot\\NULL.ida could not be found.", []string{ArtIdaErrorPage}},
		{"NULL.ida without the mapping (404)", "HTTP/1.1 404 Object Not Found\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\n\r\n<html><h1>The page cannot be found</h1>/NULL.ida</html>", nil},
		{"MS01-033 unpatched", "HTTP/1.1 500 Server Error\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\n\r\n<HTML>Exception 0xC0000005 in the ISAPI extension idq.dll</HTML>", []string{ArtAccessViolation}},
		{"hex number that only starts the same", iisHead + "value 0xc00000050 in a table", nil},
		{"catch-all page answering every path", "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 44\r\n\r\n<html><title>Welcome</title>It works!</html>", nil},
		{"ordinary IIS page", iis5Response, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := codes(Analyze([]byte(tc.raw)))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("findings %v; want %v", got, tc.want)
			}
		})
	}
}

// Identification beyond the shared corpus: tolerant banners, look-alikes
// and proxies.
func TestIdentify(t *testing.T) {
	type want struct {
		iis              bool
		product, ver, os string // "" = null for ver and os
	}
	tests := []struct {
		name string
		raw  string
		want want
	}{
		{"three-part IIS banner", "Server: Microsoft-IIS/6.0.0\r\n", want{true, ProductIIS, "6.0", "Windows Server 2003"}},
		{"lower-case header name", "server: Microsoft-IIS/7.5\r\n", want{true, ProductIIS, "7.5", "Windows Server 2008 R2"}},
		{"never-shipped IIS 9.0", "Server: Microsoft-IIS/9.0\r\n", want{true, ProductIIS, "9.0", "Windows"}},
		{"IIS 1.0", "Server: Microsoft-Internet-Information-Server/1.0\r\n", want{true, ProductIIS, "1.0", "Windows NT 3.51"}},
		{"typical IIS 5", iis5Response, want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"IIS 5 page without banner (URLScan)", strings.Replace(iis5Response, "Server: Microsoft-IIS/5.0\r\n", "", 1), want{true, ProductIIS, "", "Windows 2000 or Windows XP"}},
		{"IIS 5 404 with pver", "<a href=\"http://www.microsoft.com/ContentRedirect.asp?prd=iis&sbp=&pver=5.0&pid=&ID=404\">", want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"IIS 5 reason phrase without banner", "HTTP/1.1 404 Object Not Found\r\nContent-Type: text/html\r\n\r\n", want{true, ProductIIS, "", "Windows"}},
		{"IIS behind nginx with ARR", "HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nDate: Mon, 01 Mar 2021 10:00:00 GMT\r\nX-Powered-By: ARR/3.0\r\nContent-Length: 0\r\n\r\n", want{true, ProductIIS, "", "Windows"}},
		{"IIS detailed error behind cloudflare", "HTTP/1.1 404 Not Found\r\nServer: cloudflare\r\nContent-Type: text/html\r\n\r\n<title>IIS 10.0 Detailed Error - 404.0 - Not Found</title>", want{true, ProductIIS, "10.0", "Windows Server 2016 or later, or Windows 10/11"}},
		{"nginx with only ASP.NET headers", "HTTP/1.1 200 OK\r\nServer: nginx/1.14.0\r\nX-AspNet-Version: 4.0.30319\r\nX-Powered-By: ASP.NET\r\n\r\n", want{false, "nginx", "1.14.0", ""}},
		{"Apache on Windows", "Server: Apache/2.2.22 (Win32) PHP/5.3.13\r\n", want{false, "Apache", "2.2.22", "Windows"}},
		{"Apache 1.3 Unix", "Server: Apache/1.3.20 (Unix)\r\n", want{false, "Apache", "1.3.20", "Unix"}},
		{"lighttpd", "Server: lighttpd/1.4.35\r\n", want{false, "lighttpd", "1.4.35", ""}},
		{"Mono XSP on Linux", "Server: Mono.WebServer.XSP/3.0.11.0 Linux\r\nX-AspNet-Version: 4.0.30319\r\nSet-Cookie: ASP.NET_SessionId=x; path=/\r\n", want{false, "Mono XSP", "3.0.11.0", "Linux"}},
		{"Kestrel copy of the HTTP.sys 400 page, banner stripped", "HTTP/1.1 400 Bad Request\r\nContent-Length: 334\r\nContent-Type: text/html\r\nDate: Mon, 01 Mar 2021 10:00:00 GMT\r\n\r\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></ HEAD >\r\n<BODY><h2>Bad Request - Invalid Hostname</h2>\r\n<hr><p>HTTP Error 400. The request hostname is invalid.</p>\r\n</BODY></HTML>", want{false, "ASP.NET Core Kestrel", "", ""}},
		{"HTTP.sys 400 for an IIS host", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=us-ascii\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: Mon, 01 Mar 2021 10:00:00 GMT\r\nConnection: close\r\nContent-Length: 334\r\n\r\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Bad Request - Invalid Hostname</h2>\r\n<hr><p>HTTP Error 400. The request hostname is invalid.</p>\r\n</BODY></HTML>\r\n", want{false, "Microsoft HTTP.sys (HTTP Server API)", "2.0", "Windows"}},
		// Bare LF: typed or pasted excerpts are not judged by their line
		// ends (echo 'Server: ...' | redsweep fingerprint); captures are.
		{"echoed Server line (bare LF)", "Server: Microsoft-IIS/5.0\n", want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"Server line, no line end", "Server: Microsoft-IIS/5.0", want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"pasted header block, no status line", "Server: Microsoft-IIS/6.0\nDate: Mon, 06 Aug 2001 10:00:00 GMT\nContent-Type: text/html\nContent-Length: 2\n", want{true, ProductIIS, "6.0", "Windows Server 2003"}},
		{"pasted header block and body, no status line", "Server: Microsoft-IIS/6.0\nContent-Type: text/html\n\n<html>hi</html>\n", want{true, ProductIIS, "6.0", "Windows Server 2003"}},
		{"typed status line and Server line", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n", want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"stock IIS 6 page pasted alone (bare LF)", "<HTML><HEAD><TITLE>The page cannot be found</TITLE>\n<h2>HTTP Error 404 - File or directory not found.<br>Internet Information Services (IIS)</h2>\n<li>Go to <a href=\"http://go.microsoft.com/fwlink/?linkid=8180\">Microsoft Product Support Services</a></li>\n", want{true, ProductIIS, "6.0", "Windows Server 2003"}},
		{"status line and two headers in bare LF, cut before the blank line", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\nDate: Mon, 06 Aug 2001 10:00:00 GMT\n", want{false, productImitator, "", ""}},
		{"bare-LF status line, CRLF headers", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi", want{false, productImitator, "", ""}},
		{"same reply all CRLF", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi", want{true, ProductIIS, "5.0", "Windows 2000"}},
		{"stock IIS 6 page in bare LF behind CRLF headers (BeEF)", "HTTP/1.1 404 Not Found\r\nServer: Microsoft-IIS/6.0\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 200\r\n\r\n<h2>HTTP Error 404 - File or directory not found.<br>Internet Information Services (IIS)</h2>\n<li>Go to <a href=\"http://go.microsoft.com/fwlink/?linkid=8180\">Microsoft Product Support Services</a></li>\n", want{false, productImitator, "", ""}},
		{"imitator with bare LF", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\nDate: Mon, 06 Aug 2001 10:00:00 GMT\nContent-Type: text/html\nContent-Length: 2\n\nhi", want{false, productImitator, "", ""}},
		{"imitator with glued headers", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/6.0Content-Type: text/html\r\nDate: Mon, 06 Aug 2001 10:00:00 GMT\r\nContent-Length: 0\r\n\r\n", want{false, productImitator, "", ""}},
		{"imitator with a frozen, wrong-weekday date", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/6.0\r\nDate: Mon, 01 Jan 2009 00:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi", want{false, productImitator, "", ""}},
		{"imitator whose body overruns Content-Length", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/7.5\r\nDate: Mon, 01 Mar 2021 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n<html>hello</html>", want{false, productImitator, "", ""}},
		{"real IIS HEAD reply (no body, length declared)", "HTTP/1.1 200 OK\r\nContent-Length: 703\r\nContent-Type: text/html\r\nServer: Microsoft-IIS/10.0\r\nDate: Thu, 07 Nov 2024 19:00:12 GMT\r\n\r\n", want{true, ProductIIS, "10.0", "Windows Server 2016 or later, or Windows 10/11"}},
		{"IIS Express", "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/10.0\r\nX-SourceFiles: =?UTF-8?B?YzpcZGVtbw==?=\r\nDate: Sat, 09 Jul 2016 11:27:20 GMT\r\nContent-Length: 0\r\n\r\n", want{true, ProductIISExpress, "10.0", "Windows"}},
		{"empty input", "", want{false, "", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Analyze([]byte(tc.raw))
			ver, os := "", ""
			if got.Version != nil {
				ver = *got.Version
			}
			if got.OS != nil {
				os = *got.OS
			}
			g := want{got.IsIIS, got.Product, ver, os}
			if g != tc.want {
				t.Fatalf("got %+v\nwant %+v\nsignals %+v", g, tc.want, got.Signals)
			}
			if len(got.Signals) == 0 && tc.raw != "" {
				t.Errorf("no signals explain the result")
			}
		})
	}
}

// Golden JSON: what `redsweep fingerprint FILE` prints (2-space indent).
// Inputs are testdata/golden/*.http; go test -run Golden -update rewrites.
func TestGoldenJSON(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.http"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs in testdata/golden")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.MarshalIndent(Analyze(raw), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := strings.TrimSuffix(in, ".http") + ".json"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update)", err)
			}
			if string(out) != string(want) {
				t.Errorf("%s differs from golden %s:\n%s", in, golden, out)
			}
		})
	}
}

// findings and signals are [] (never null) in JSON, even for nothing.
func TestJSONEmptyArrays(t *testing.T) {
	for _, raw := range []string{"", "garbage", "Server: Microsoft-IIS/5.0\r\n"} {
		b, err := json.Marshal(Analyze([]byte(raw)))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if strings.Contains(s, `"findings":null`) || strings.Contains(s, `"signals":null`) {
			t.Errorf("%q: %s", raw, s)
		}
	}
	var nilResult = AnalyzeResponse(nil)
	if nilResult.Findings == nil || nilResult.Signals == nil {
		t.Errorf("AnalyzeResponse(nil) has nil slices")
	}
}

// TestWireCapture: when line ends may be judged at all.
func TestWireCapture(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"lone Server line", "Server: Microsoft-IIS/5.0\n", false},
		{"header block without status line", "Server: Microsoft-IIS/5.0\nDate: x\nContent-Type: text/html\n\n", false},
		{"header block and body without status line", "Server: Microsoft-IIS/5.0\n\nhello", false},
		{"body alone", "<html>hello</html>\n", false},
		{"status line alone", "HTTP/1.1 200 OK\n", false},
		{"status line and one header", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n", false},
		{"status line, one header, blank line, no body", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n\n", false},
		{"status line and two headers", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\nDate: x\n", true},
		{"status line, one header, body", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n\nhi", true},
		{"status line, one header, body without blank line", "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n<html>hi", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Parse([]byte(tc.raw))
			if got := wireCapture(&r); got != tc.want {
				t.Errorf("wireCapture = %v, want %v (%+v)", got, tc.want, r)
			}
		})
	}
}
