package triage

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"redsweep/fingerprint"
)

// Realistic answers: IIS 5.0 header order and pages, the worm artefacts as
// the worms served them (corpus fingerprints README; issue 2 point 4).
func iis5(status, ctype, body string) string {
	return "HTTP/1.1 " + status + "\r\nServer: Microsoft-IIS/5.0\r\nDate: Sat, 04 Aug 2001 09:13:52 GMT\r\n" +
		"Content-Type: " + ctype + "\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
}

func iis(ver, status, body string) string {
	return strings.Replace(iis5(status, "text/html", body), "IIS/5.0", "IIS/"+ver, 1)
}

var (
	rootIIS5   = iis5("200 OK", "text/html", "<html><head><title>Under Construction</title></head><body>The site you were trying to reach does not currently have a default page.</body></html>")
	notFound5  = iis5("404 Object Not Found", "text/html", "<html><head><title>The page cannot be found</title></head><body><h2>HTTP 404 - File not found</h2></body></html>")
	idaError   = iis5("200 OK", "text/html", "<HTML>The IDQ file C:\\Inetpub\\wwwroot\\NULL.ida could not be found.</HTML>")
	idaCrash   = iis5("500 Server Error", "text/html", "<HTML>Access violation 0xc0000005 in idq.dll</HTML>")
	idaPatched = iis5("200 OK", "text/html", "<HTML>The IDQ file C:\\Inetpub\\wwwroot\\x.ida could not be found.</HTML>")
	cr1        = iis5("200 OK", "text/html", "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=English\"><title>HELLO!</title></head>"+
		"<bad><hr size=5><font color=\"red\"><p align=\"center\">Welcome to http://www.worm.com !<br><br>Hacked By Chinese!</font></hr></bad></html>")
	nimdaPage = iis5("200 OK", "text/html", "<html><body>Welcome</body></html>\r\n"+
		"<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>")
	nimdaEML = iis5("200 OK", "message/rfc822", "MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"multipart/alternative\";\r\n"+
		"\tboundary=\"====_ABC1234567890DEF_====\"\r\n\r\n--====_ABC1234567890DEF_====\r\nContent-Type: audio/x-wav;\r\n\tname=\"readme.exe\"\r\n"+
		"Content-Transfer-Encoding: base64\r\nContent-ID: <EA4DMGBP9p>\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAA\r\n")
	cgiVer = iis5("502 Gateway Error", "text/html", "<head><title>Error in CGI Application</title></head>\n<body><h1>CGI Error</h1>"+
		"The specified CGI application misbehaved by not returning a complete set of HTTP headers.  The headers it did return are:<p><p><pre>\r\n"+
		"Microsoft Windows 2000 [Version 5.00.2195]\r\n</pre>")
	apache  = "HTTP/1.1 200 OK\r\nDate: Sat, 04 Aug 2001 09:13:52 GMT\r\nServer: Apache/1.3.20 (Unix)\r\nContent-Length: 44\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>It works!</h1></body></html>"
	httpapi = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=us-ascii\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: Tue, 26 Jul 2022 23:06:38 GMT\r\nConnection: close\r\nContent-Length: 23\r\n\r\n<h2>Not Found</h2><hr>"
	// A non-IIS server wearing the IIS 5.0 banner (bare LF framing).
	spoofed = "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\nContent-Type: text/html\nContent-Length: 12\n\n<html></html>"
	// A server answering every path with one page (here, a copy of readme.eml).
	catchEML = "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nContent-Type: text/html\r\n\r\n" + nimdaEML[strings.Index(nimdaEML, "\r\n\r\n")+4:]
)

var seen = time.Date(2001, 8, 4, 9, 13, 52, 0, time.UTC)

func x(probe, path, raw string) Exchange {
	r := fingerprint.Parse([]byte(raw))
	return Exchange{Probe: probe, Path: path, Status: r.StatusCode, StatusLine: strings.SplitN(raw, "\n", 2)[0],
		Print: fingerprint.AnalyzeResponse(&r), Body: r.Body, At: seen}
}

func failed(probe, path, err string) Exchange {
	return Exchange{Probe: probe, Path: path, Err: err, At: seen}
}

const base = "/redsweep-0123456789abcdef.htm"

func TestJudge(t *testing.T) {
	cases := []struct {
		name    string
		ex      []Exchange
		verdict Verdict
		want    []string // finding codes, in any order, exactly
	}{
		{"nothing answered", []Exchange{failed(ProbeRoot, "/", "read: deadline reached after 0 bytes")}, None, nil},
		{"not HTTP", []Exchange{x(ProbeRoot, "/", "\x00\x01garbage")}, None, nil},
		{"apache", []Exchange{x(ProbeRoot, "/", apache)}, Web, nil},
		{"HTTP.sys alone is web", []Exchange{x(ProbeRoot, "/", httpapi)}, Web, nil},
		{"IIS 6 is iis, no era finding", []Exchange{x(ProbeRoot, "/", iis("6.0", "200 OK", "<html>ok</html>"))}, IIS, nil},
		{"IIS 5 without mapping", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", notFound5), x(ProbeReadme, "/readme.eml", notFound5),
		}, IIS, []string{IISCodeRedEra}},
		{"IIS 5 with .ida mapping", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError), x(ProbeReadme, "/readme.eml", notFound5),
		}, Vulnerable, []string{IISCodeRedEra, IdaMapped}},
		{"IIS 4 with .ida mapping", []Exchange{
			x(ProbeRoot, "/", iis("4.0", "200 OK", "<html>NT4</html>")), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError),
		}, Vulnerable, []string{IISCodeRedEra, IdaMapped}},
		{"MS01-033 confirmed unpatched", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError), x(ProbeMS01033, "/x.ida?xxx=x", idaCrash),
		}, Vulnerable, []string{IISCodeRedEra, IdaMapped, MS01033Unpatched}},
		{"MS01-033 confirmed patched", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError), x(ProbeMS01033, "/x.ida?xxx=x", idaPatched),
		}, IIS, []string{IISCodeRedEra, MS01033Patched}},
		{"MS01-033 probe timed out: mapping still counts", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError), failed(ProbeMS01033, "/x.ida?xxx=x", "read: deadline reached after 0 bytes"),
		}, Vulnerable, []string{IISCodeRedEra, IdaMapped}},
		{"Code Red I defaced (every path)", []Exchange{
			x(ProbeRoot, "/", cr1), x(ProbeBaseline, base, cr1), x(ProbeNullIda, "/NULL.ida", cr1),
		}, Infected, []string{IISCodeRedEra, CodeRed1Defaced, CatchAll}},
		{"Nimda page and readme.eml", []Exchange{
			x(ProbeRoot, "/", nimdaPage), x(ProbeBaseline, base, notFound5), x(ProbeReadme, "/readme.eml", nimdaEML),
		}, Infected, []string{IISCodeRedEra, NimdaContent, NimdaReadmeEML}},
		{"readme.eml alone", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeReadme, "/readme.eml", nimdaEML),
		}, Infected, []string{IISCodeRedEra, NimdaReadmeEML}},
		{"Code Red II backdoor (confirm)", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError),
			x(ProbeCR2Scr, "/scripts/root.exe?/c+ver", cgiVer), x(ProbeCR2MSADC, "/MSADC/root.exe?/c+ver", notFound5),
		}, Infected, []string{IISCodeRedEra, IdaMapped, CodeRed2Backdoor}},
		{"catch-all: same page everywhere", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, rootIIS5), x(ProbeNullIda, "/NULL.ida", rootIIS5), x(ProbeReadme, "/readme.eml", rootIIS5),
		}, IIS, []string{IISCodeRedEra, CatchAll}},
		{"catch-all serving a Nimda MIME body on every path", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, catchEML), x(ProbeReadme, "/readme.eml", catchEML),
		}, IIS, []string{IISCodeRedEra, CatchAll}},
		{"catch-all answering the IDQ error everywhere", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, idaError), x(ProbeNullIda, "/NULL.ida", idaError),
		}, IIS, []string{IISCodeRedEra, CatchAll}},
		{"catch-all echoing cmd output everywhere", []Exchange{
			x(ProbeRoot, "/", rootIIS5), x(ProbeBaseline, base, cgiVer), x(ProbeCR2Scr, "/scripts/root.exe?/c+ver", cgiVer),
		}, IIS, []string{IISCodeRedEra, CatchAll}},
		{"no baseline answer: worm path not trusted", []Exchange{
			x(ProbeRoot, "/", rootIIS5), failed(ProbeBaseline, base, "connection reset after 0 bytes"), x(ProbeReadme, "/readme.eml", nimdaEML),
		}, IIS, []string{IISCodeRedEra}},
		{"spoofed IIS banner with IDQ text", []Exchange{
			x(ProbeRoot, "/", spoofed), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError),
		}, Web, nil},
		{"HTTP.sys root with IDQ text is not IIS", []Exchange{
			x(ProbeRoot, "/", httpapi), x(ProbeBaseline, base, notFound5), x(ProbeNullIda, "/NULL.ida", idaError),
		}, Web, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, fs := Judge(c.ex)
			if v != c.verdict {
				t.Errorf("verdict %v, want %v (findings %+v)", v, c.verdict, fs)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Code)
				if f.Source != SourceSweep || !f.Seen.Equal(seen) || f.Evidence == "" || f.Detail == "" {
					t.Errorf("finding %s lacks source/seen/evidence/detail: %+v", f.Code, f)
				}
			}
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
			}
		})
	}
}

// Evidence must let a person check the call: status line, Server header and
// the matched snippet.
func TestJudgeEvidence(t *testing.T) {
	_, fs := Judge([]Exchange{x(ProbeRoot, "/", cr1)})
	i := slices.IndexFunc(fs, func(f Finding) bool { return f.Code == CodeRed1Defaced })
	if i < 0 {
		t.Fatalf("no %s finding in %+v", CodeRed1Defaced, fs)
	}
	for _, want := range []string{"HTTP/1.1 200 OK", "Server: Microsoft-IIS/5.0", "GET /"} {
		if !strings.Contains(fs[i].Evidence, want) {
			t.Errorf("evidence %q lacks %q", fs[i].Evidence, want)
		}
	}
	if !strings.Contains(strings.ToLower(fs[i].Evidence), "hello") && !strings.Contains(fs[i].Evidence, "Hacked") {
		t.Errorf("evidence %q lacks the matched snippet", fs[i].Evidence)
	}
}
