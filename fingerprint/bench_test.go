package fingerprint

import (
	"strings"
	"testing"
)

// iis5Response is a typical IIS 5.0 answer to "GET / HTTP/1.0": the stock
// "Under Construction" page with IIS 5's header order (Server first,
// Content-Location leak, ETag with a change number). Written for these
// tests after the WSTG IIS 5 capture and WhatWeb's page markers.
var iis5Response = "HTTP/1.1 200 OK\r\n" +
	"Server: Microsoft-IIS/5.0\r\n" +
	"Content-Location: http://10.1.2.3/iisstart.asp\r\n" +
	"Date: Mon, 06 Aug 2001 14:02:11 GMT\r\n" +
	"Content-Type: text/html\r\n" +
	"Accept-Ranges: bytes\r\n" +
	"Last-Modified: Thu, 07 Dec 2000 02:10:44 GMT\r\n" +
	"ETag: \"0c4b1a0f85ec01:8f2\"\r\n" +
	"Content-Length: " + itoa(len(iis5Body)) + "\r\n" +
	"\r\n" + iis5Body

var iis5Body = "<html>\r\n<head>\r\n<meta HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=Windows-1252\">\r\n" +
	"<title id=\"titletext\">Under Construction</title>\r\n</head>\r\n<body bgcolor=\"white\">\r\n" +
	"<table width=\"410\" cellpadding=\"3\" cellspacing=\"5\">\r\n<tr><td align=\"left\" valign=\"middle\" width=\"360\">\r\n" +
	"<h1 style=\"COLOR:000000; FONT: 13pt/15pt verdana\"><id id=\"Comment1\"><!--Problem--></id><id id=\"errorText\">Under Construction</id></h1>\r\n" +
	"</td></tr>\r\n<tr><td width=\"400\" colspan=\"2\"><font style=\"COLOR:000000; FONT: 8pt/11pt verdana\">" +
	"The site you were trying to reach does not currently have a default page. It may be in the process of being upgraded.</font></td></tr>\r\n" +
	strings.Repeat("<tr><td><font style=\"COLOR:000000; FONT: 8pt/11pt verdana\">Please try this site again later.</font></td></tr>\r\n", 8) +
	"</table>\r\n</body>\r\n</html>\r\n"

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// largePage is an ordinary big page with none of the markers: the worst
// case, where every body rule's literal search runs to the end.
func largePage(size int) []byte {
	var sb strings.Builder
	sb.WriteString("HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Mon, 06 Aug 2001 14:02:11 GMT\r\nContent-Type: text/html\r\nContent-Length: ")
	const row = "<tr><td class=\"c\">Quarterly figures for the north-west region, revised</td><td>1234.56</td></tr>\r\n"
	body := strings.Repeat(row, size/len(row)+1)[:size]
	sb.WriteString(itoa(len(body)))
	sb.WriteString("\r\n\r\n")
	sb.WriteString(body)
	return []byte(sb.String())
}

func benchAnalyze(b *testing.B, raw []byte) {
	if err := CheckRules(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		_ = Analyze(raw)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fingerprints/s")
}

func BenchmarkAnalyzeIIS5(b *testing.B) { benchAnalyze(b, []byte(iis5Response)) }

func BenchmarkAnalyzeLargePage64K(b *testing.B) { benchAnalyze(b, largePage(64<<10)) }

func BenchmarkAnalyzeLargePage1M(b *testing.B) { benchAnalyze(b, largePage(1<<20)) }

func BenchmarkParseIIS5(b *testing.B) {
	raw := []byte(iis5Response)
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse(raw)
	}
}
