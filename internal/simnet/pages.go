package simnet

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Pages and header orders follow the real servers: header order per version
// from the fingerprint corpus (shared/corpus/fingerprints: IIS 5 Server first
// then Content-Location and Date; IIS 6 Content-Length first; IIS 7.5/10
// Content-Type first and Content-Length last; HTTP.sys's 315-byte 404). Page
// texts are the stock pages, shortened where the corpus has no full capture;
// Content-Length always equals the bytes sent.

// site is the per-host data a response needs.
type site struct {
	addr    netip.Addr
	port    uint16
	owner   string    // customer name, for the home page
	lastMod time.Time // of the home page
	etag    string    // IIS 4/5 form: "<filetime hex>:<change number hex>"
}

type header struct{ k, v string }

// reply renders a status line, headers and body. eol is "\r\n" for every
// genuine server; the spoofed banner uses "\n", which real IIS never sends.
func reply(status string, hs []header, body string, head bool, eol string) []byte {
	var b strings.Builder
	b.Grow(len(body) + 256)
	b.WriteString(status)
	b.WriteString(eol)
	for _, h := range hs {
		b.WriteString(h.k)
		b.WriteString(": ")
		b.WriteString(h.v)
		b.WriteString(eol)
	}
	b.WriteString(eol)
	if !head {
		b.WriteString(body)
	}
	return []byte(b.String())
}

func httpDate(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") }

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func clen(body string) string { return strconv.Itoa(len(body)) }

// splitTarget returns the lower-cased path (IIS paths are case-insensitive)
// and the raw query.
func splitTarget(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	return strings.ToLower(path), query
}

// ---- IIS 4.0 / 5.0 / 5.1 ----

func (s *site) homePage() string {
	return crlf(fmt.Sprintf(`<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>%s's home page</title>
</head>
<body bgcolor="#FFFFFF">
<h1>Welcome to %s's home page</h1>
<p>This page is served from my own computer on the cable line.</p>
<p>Last updated %s.</p>
</body>
</html>
`, s.owner, s.owner, s.lastMod.Format("2 January 2006")))
}

// iisStatic is an IIS 4/5.x static file: Server first, Content-Location
// leaking the address, then Date (fp-039).
func (s *site) iisStatic(ver, file, body string, now time.Time, head bool) []byte {
	return reply("HTTP/1.1 200 OK", []header{
		{"Server", "Microsoft-IIS/" + ver},
		{"Content-Location", "http://" + s.addr.String() + "/" + file},
		{"Date", httpDate(now)},
		{"Content-Type", "text/html"},
		{"Accept-Ranges", "bytes"},
		{"Last-Modified", httpDate(s.lastMod)},
		{"ETag", s.etag},
		{"Content-Length", clen(body)},
	}, body, head, "\r\n")
}

// iisGenerated is a response IIS 4/5 builds itself (errors, ISAPI, CGI).
func iisGenerated(ver, status, body string, now time.Time, head bool) []byte {
	return reply(status, []header{
		{"Server", "Microsoft-IIS/" + ver},
		{"Date", httpDate(now)},
		{"Content-Length", clen(body)},
		{"Content-Type", "text/html"},
	}, body, head, "\r\n")
}

// iis404b is IIS 4/5's "The page cannot be found" page (404b.htm), shortened:
// its script and style blocks are cut, the text and the support link with
// pver= are as shipped.
func iis404b(pver string) string {
	return crlf(`<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html dir=ltr>

<head>
<style>
a:link			{font:8pt/11pt verdana; color:FF0000}
a:visited		{font:8pt/11pt verdana; color:#4e4e4e}
</style>

<META NAME="ROBOTS" CONTENT="NOINDEX">

<title>The page cannot be found</title>

<META HTTP-EQUIV="Content-Type" Content="text-html; charset=Windows-1252">
</head>

<body bgcolor="FFFFFF">

<table width="410" cellpadding="3" cellspacing="5">

  <tr>
    <td align="left" valign="middle" width="360">
	<h1 style="COLOR:000000; FONT: 13pt/15pt verdana"><!--Problem-->The page cannot be found</h1>
    </td>
  </tr>

  <tr>
    <td width="400" colspan="2">
	<font style="COLOR:000000; FONT: 8pt/11pt verdana">The page you are looking for might have been removed, had its name changed, or is temporarily unavailable.</font></td>
  </tr>

  <tr>
    <td width="400" colspan="2">
	<font style="COLOR:000000; FONT: 8pt/11pt verdana">

	<hr color="#C0C0C0" noshade>

    <p>Please try the following:</p>

	<ul>
      <li>If you typed the page address in the Address bar, make sure that it is spelled correctly.<br></li>

      <li>Click the <a href="javascript:history.back(1)">Back</a> button to try another link.</li>
    </ul>

    <h2 style="font:8pt/11pt verdana; color:000000">HTTP 404 - File not found<br>
    Internet Information Services<BR></h2>

	<hr color="#C0C0C0" noshade>

	<p>Technical Information (for support personnel)</p>

<ul>
<li>More information:<br>
<a href="http://www.microsoft.com/ContentRedirect.asp?prd=iis&sbp=&pver=` + pver + `&pid=&ID=404&cat=web&os=&over=&hrd=&Opt1=&Opt2=&Opt3=" target="_blank">Microsoft Support</a>
</li>
</ul>

    </font></td>
  </tr>

</table>
</body>
</html>
`)
}

// iis4Default is the NT 4.0 Option Pack default page (Default.asp), cut to
// its text; the markers scanners use (fp-060) are as shipped.
const iis4Default = `<HTML>
<HEAD>
<TITLE>Welcome To IIS 4.0</TITLE>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=windows-1252">
</HEAD>
<BODY BGCOLOR="#FFFFFF">
<H1>Welcome To IIS 4.0</H1>
<P>Microsoft Windows NT 4.0 Option Pack</P>
<P>Microsoft Internet Information Server 4.0 is installed on this computer.</P>
</BODY>
</HTML>
`

// idqNotFound is Index Server's answer to an .ida/.idq name that has no
// file behind it: proof the .ida script mapping is present.
func idqNotFound(path string) string {
	name := strings.TrimPrefix(path, "/")
	name = strings.ReplaceAll(name, "/", `\`)
	return `<HTML>The IDQ file c:\inetpub\wwwroot\` + name + ` could not be found.`
}

// idaCrash is what an unpatched idq.dll answers to the MS01-033 probe: the
// buffer overflow raises an access violation. The corpus has no capture of
// this page; the 0xc0000005 code is the fact scanners of 2001 matched.
func idaCrash(path string) string {
	return `<HTML>The ISAPI extension idq.dll raised an exception 0xc0000005 (access violation) while processing ` +
		strings.TrimPrefix(path, "/") + `.</HTML>`
}

// cgiError is IIS 5.0's "CGI Error" page (502) around the text a CGI program
// printed without headers; Code Red II's root.exe is cmd.exe, so "ver" prints
// the Windows version.
func cgiError(output string) string {
	return crlf("<head><title>Error in CGI Application</title></head>\n" +
		"<body><h1>CGI Error</h1>The specified CGI application misbehaved by not returning a complete set of HTTP headers.  The headers it did return are:<p><p><pre>" +
		output + "</pre>\n")
}

// verOutput is cmd.exe's "ver" on Windows 2000. Anything else run through
// root.exe prints nothing: simnet never imitates a command that lists files.
const verOutput = "\r\nMicrosoft Windows 2000 [Version 5.00.2195]\r\n"

// codeRed1Page is the page Code Red I served in place of every "/", byte
// for byte as the worm carried it (lower-case tags, and "<bad>" where
// "<body>" was meant).
const codeRed1Page = `<html><head><meta http-equiv="Content-Type" content="text/html; charset=English"><title>HELLO!</title></head><bad><hr size=5><font color="red"><p align="center">Welcome to http://www.worm.com !<br><br>Hacked By Chinese!</font></hr></bad></html>`

// nimdaScript is what Nimda appended to every .htm, .html and .asp page.
const nimdaScript = "<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>"

// nimdaEML is a synthetic readme.eml: Nimda's MIME layout (an HTML part that
// auto-opens an attachment declared as audio/x-wav named readme.exe). The
// attachment is base64 of harmless text, never an executable.
var nimdaEML = func() string {
	payload := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("simnet: harmless placeholder for the readme.exe attachment; not an executable.\n", 8)))
	var lines []string
	for len(payload) > 76 {
		lines = append(lines, payload[:76])
		payload = payload[76:]
	}
	lines = append(lines, payload)
	return crlf(`MIME-Version: 1.0
Content-Type: multipart/related;
	type="multipart/alternative";
	boundary="====_ABC1234567890DEF_===="
X-Priority: 3
X-MSMail-Priority: Normal
X-Unsent: 1

--====_ABC1234567890DEF_====
Content-Type: multipart/alternative;
	boundary="====_ABC0987654321DEF_===="

--====_ABC0987654321DEF_====
Content-Type: text/html;
	charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable


<HTML><HEAD></HEAD><BODY bgColor=3D#ffffff>
<iframe src=3Dcid:EA4DMGBP9p height=3D0 width=3D0>
</iframe></BODY></HTML>
--====_ABC0987654321DEF_====--

--====_ABC1234567890DEF_====
Content-Type: audio/x-wav;
	name="readme.exe"
Content-Transfer-Encoding: base64
Content-ID: <EA4DMGBP9p>

` + strings.Join(lines, "\n") + `

--====_ABC1234567890DEF_====--
`)
}()

// iisClassic answers for IIS 4.0, 5.0 and 5.1 and the worm-infected IIS 5
// hosts. Requests are routed the way IIS routes them: script mappings by
// extension first, then files.
func (s *site) iisClassic(p Personality, method, target string, now time.Time) []byte {
	head := method == "HEAD"
	path, query := splitTarget(target)
	ver, pver := "5.0", "5.0"
	switch p {
	case IIS4Ida, IIS4NoIda:
		ver, pver = "4.0", "4.0"
	case IIS51:
		ver, pver = "5.1", "5.1"
	}
	idaMapped := false
	switch p {
	case IIS4Ida, IIS5Ida, IIS5IdaPatched, CodeRed1, CodeRed2, Nimda:
		idaMapped = true
	}
	unpatched := idaMapped && p != IIS5IdaPatched
	notFound := func() []byte { return iisGenerated(ver, "HTTP/1.1 404 Object Not Found", iis404b(pver), now, head) }

	if p == CatchAll {
		// A custom 404 handler that serves the home page with 200: every
		// path, worm paths included, looks like a hit.
		return s.iisStatic(ver, "Default.htm", s.homePage(), now, head)
	}
	if idaMapped && (strings.HasSuffix(path, ".ida") || strings.HasSuffix(path, ".idq")) {
		if unpatched && len(query) > 200 { // the 220-x probe, or a worm's request
			return iisGenerated(ver, "HTTP/1.1 200 OK", idaCrash(path), now, head)
		}
		return iisGenerated(ver, "HTTP/1.1 200 OK", idqNotFound(path), now, head)
	}
	switch path {
	case "/", "/default.htm", "/default.asp":
		switch p {
		case CodeRed1:
			return reply("HTTP/1.1 200 OK", []header{
				{"Server", "Microsoft-IIS/5.0"},
				{"Date", httpDate(now)},
				{"Content-Type", "text/html"},
				{"Content-Length", clen(codeRed1Page)},
			}, codeRed1Page, head, "\r\n")
		case Nimda:
			return s.iisStatic(ver, "Default.htm", s.homePage()+nimdaScript, now, head)
		case IIS4Ida, IIS4NoIda:
			// IIS 4's Default.asp: ASP output order (fp-065), session cookie.
			body := crlf(iis4Default)
			return reply("HTTP/1.1 200 OK", []header{
				{"Server", "Microsoft-IIS/4.0"},
				{"Date", httpDate(now)},
				{"Content-Length", clen(body)},
				{"Content-Type", "text/html"},
				{"Set-Cookie", "ASPSESSIONIDQQGGQGPG=" + s.sessionID() + "; path=/"},
				{"Cache-control", "private"},
			}, body, head, "\r\n")
		}
		return s.iisStatic(ver, "Default.htm", s.homePage(), now, head)
	case "/readme.eml":
		if p == Nimda {
			return reply("HTTP/1.1 200 OK", []header{
				{"Server", "Microsoft-IIS/5.0"},
				{"Content-Location", "http://" + s.addr.String() + "/readme.eml"},
				{"Date", httpDate(now)},
				{"Content-Type", "message/rfc822"},
				{"Accept-Ranges", "bytes"},
				{"Last-Modified", httpDate(now.Add(-time.Hour))},
				{"ETag", s.etag},
				{"Content-Length", clen(nimdaEML)},
			}, nimdaEML, head, "\r\n")
		}
	case "/scripts/root.exe", "/msadc/root.exe":
		if p == CodeRed2 {
			out := ""
			if strings.EqualFold(query, "/c+ver") || strings.EqualFold(query, "/c%20ver") {
				out = verOutput
			}
			return iisGenerated(ver, "HTTP/1.1 502 Gateway Error", cgiError(out), now, head)
		}
	}
	return notFound()
}

// sessionID is a stable 24-letter classic ASP session id for this host.
func (s *site) sessionID() string {
	b := s.addr.As4()
	var out [24]byte
	x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for i := range out {
		x = x*1664525 + 1013904223
		out[i] = 'A' + byte(x>>24)%26
	}
	return string(out[:])
}

// ---- IIS 6.0 / 7.5 / 10.0 ----

// iis6Start is IIS 6.0's "Under Construction" iisstart.htm, cut to its text.
const iis6Start = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN">
<HTML><HEAD><TITLE>Under Construction</TITLE>
<META HTTP-EQUIV="Content-Type" Content="text/html; charset=Windows-1252">
</HEAD>
<BODY bgcolor="#FFFFFF">
<TABLE width=500 border=0 cellspacing=10><TR><TD>
<h1>Under Construction</h1>
The site you are trying to view does not currently have a default page. It may be in the process of being upgraded and configured.
<p>Please try this site again later. If you still experience the problem, try contacting the Web site administrator.
<hr>
<p>If you are the Web site administrator and feel you have received this message in error, please see "Enabling and Disabling Dynamic Content" in IIS Help.
</TD></TR></TABLE>
</BODY></HTML>
`

// iis6404 is IIS 6.0's "The page cannot be found", cut (fp-107 notes the
// real page starts with the DOCTYPE line and carries linkid=8180).
const iis6404 = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<HTML><HEAD><TITLE>The page cannot be found</TITLE>
<META HTTP-EQUIV="Content-Type" Content="text/html; charset=Windows-1252">
</HEAD><BODY><TABLE width=500 border=0 cellspacing=10><TR><TD>
<h1>The page cannot be found</h1>
The page you are looking for might have been removed, had its name changed, or is temporarily unavailable.
<hr>
<h2>HTTP Error 404 - File or directory not found.<br>Internet Information Services (IIS)</h2>
<hr>
<ul>
<li>Go to <a href="http://go.microsoft.com/fwlink/?linkid=8180">Microsoft Product Support Services</a> and perform a title search for the words <b>HTTP</b> and <b>404</b>.</li>
</ul>
</TD></TR></TABLE></BODY></HTML>
`

// iis7Start renders the IIS 7.x and 10 iisstart.htm (689 and 703 bytes as
// shipped, with CRLF line ends).
func iis7Start(title, bg, img, alt, w, h string) string {
	return crlf(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<title>` + title + `</title>
<style type="text/css">
<!--
body {
	color:#000000;
	background-color:` + bg + `;
	margin:0;
}

#container {
	margin-left:auto;
	margin-right:auto;
	text-align:center;
	}

a img {
	border:none;
}

-->
</style>
</head>
<body>
<div id="container">
<a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="` + img + `" alt="` + alt + `" width="` + w + `" height="` + h + `" /></a>
</div>
</body>
</html>`)
}

var (
	iis75Start = iis7Start("IIS7", "#B3B3B3", "welcome.png", "IIS7", "571", "411")
	iis10Start = iis7Start("IIS Windows Server", "#0072C6", "iisstart.png", "IIS", "960", "600")
)

// iis7404 is the IIS 7.x/10 "404 - File or directory not found." page.
const iis7404 = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>404 - File or directory not found.</title>
<style type="text/css">
<!--
body{margin:0;font-size:.7em;font-family:Verdana, Arial, Helvetica, sans-serif;background:#EEEEEE;}
fieldset{padding:0 15px 10px 15px;} 
h1{font-size:2.4em;margin:0;color:#FFF;}
h2{font-size:1.7em;margin:0;color:#CC0000;} 
h3{font-size:1.2em;margin:10px 0 0 0;color:#000000;} 
#header{width:96%;margin:0 0 0 0;padding:6px 2% 6px 2%;font-family:"trebuchet MS", Verdana, sans-serif;color:#FFF;
background-color:#555555;}
#content{margin:0 0 0 2%;position:relative;}
.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;}
-->
</style>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>404 - File or directory not found.</h2>
  <h3>The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.</h3>
 </fieldset></div>
</div>
</body>
</html>
`

func (s *site) iisModern(p Personality, method, target string, now time.Time) []byte {
	head := method == "HEAD"
	path, _ := splitTarget(target)
	home := path == "/" || path == "/iisstart.htm"
	switch p {
	case IIS6:
		if home {
			body := crlf(iis6Start)
			return reply("HTTP/1.1 200 OK", []header{
				{"Content-Length", clen(body)},
				{"Content-Type", "text/html"},
				{"Content-Location", "http://" + s.addr.String() + "/iisstart.htm"},
				{"Last-Modified", "Fri, 21 Feb 2003 15:48:30 GMT"},
				{"Accept-Ranges", "bytes"},
				{"ETag", `"05b3daec0d9c21:` + s.etag[len(s.etag)-4:]},
				{"Server", "Microsoft-IIS/6.0"},
				{"X-Powered-By", "ASP.NET"},
				{"Date", httpDate(now)},
			}, body, head, "\r\n")
		}
		body := crlf(iis6404)
		return reply("HTTP/1.1 404 Not Found", []header{
			{"Content-Length", clen(body)},
			{"Content-Type", "text/html"},
			{"Server", "Microsoft-IIS/6.0"},
			{"X-Powered-By", "ASP.NET"},
			{"Date", httpDate(now)},
		}, body, head, "\r\n")
	case IIS75, IIS10:
		ver, page, lm, etag := "7.5", iis75Start, "Sat, 20 Nov 2010 03:13:31 GMT", `"3a24cbe86088cb1:0"`
		if p == IIS10 {
			ver, page, lm, etag = "10.0", iis10Start, "Tue, 09 Aug 2022 23:00:33 GMT", `"557c50d443acd81:0"`
		}
		var hs []header
		if home {
			hs = []header{{"Content-Type", "text/html"}, {"Last-Modified", lm}, {"Accept-Ranges", "bytes"}, {"ETag", etag}}
		} else {
			page = crlf(iis7404)
			hs = []header{{"Content-Type", "text/html"}}
		}
		hs = append(hs, header{"Server", "Microsoft-IIS/" + ver})
		if p == IIS75 { // IIS 10 hosts in the corpus often lack ASP.NET (fp-088)
			hs = append(hs, header{"X-Powered-By", "ASP.NET"})
		}
		hs = append(hs, header{"Date", httpDate(now)}, header{"Content-Length", clen(page)})
		status := "HTTP/1.1 200 OK"
		if !home {
			status = "HTTP/1.1 404 Not Found"
		}
		return reply(status, hs, page, head, "\r\n")
	}
	return nil
}

// ---- HTTP.sys ----

// httpSys404 is HTTP.sys's own 404 page, 315 bytes (fp-047).
const httpSys404 = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Not Found</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Not Found</h2>\r\n<hr><p>HTTP Error 404. The requested resource is not found.</p>\r\n</BODY></HTML>\r\n"

func httpSys(method string, now time.Time) []byte {
	return reply("HTTP/1.1 404 Not Found", []header{
		{"Content-Type", "text/html; charset=us-ascii"},
		{"Server", "Microsoft-HTTPAPI/2.0"},
		{"Date", httpDate(now)},
		{"Connection", "close"},
		{"Content-Length", clen(httpSys404)},
	}, httpSys404, method == "HEAD", "\r\n")
}

// ---- Apache 1.3, nginx, the spoofed banner ----

const apacheServer = "Apache/1.3.20 (Unix)"

func (s *site) apache(method, target string, now time.Time) []byte {
	head := method == "HEAD"
	path, _ := splitTarget(target)
	if path == "/" || path == "/index.html" {
		// Apache writes files as they are on disk: LF line ends in the body.
		body := fmt.Sprintf("<html>\n<head><title>%s</title></head>\n<body>\n<h1>%s</h1>\n<p>Running Linux since 1999.</p>\n</body>\n</html>\n", s.owner, s.owner)
		return reply("HTTP/1.1 200 OK", []header{
			{"Date", httpDate(now)},
			{"Server", apacheServer},
			{"Last-Modified", httpDate(s.lastMod)},
			{"ETag", fmt.Sprintf(`"%x-%x-%x"`, s.addr.As4()[3]*97+1, len(body), s.lastMod.Unix())},
			{"Accept-Ranges", "bytes"},
			{"Content-Length", clen(body)},
			{"Connection", "close"},
			{"Content-Type", "text/html"},
		}, body, head, "\r\n")
	}
	// The raw target is echoed, as Apache 1.3 did (HTML-escaped).
	p, _, _ := strings.Cut(target, "?")
	body := "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\nThe requested URL " +
		htmlEscape(p) + " was not found on this server.<P>\n<HR>\n<ADDRESS>" + apacheServer + " Server at " + s.addr.String() + " Port " + strconv.Itoa(int(s.port)) + "</ADDRESS>\n</BODY></HTML>\n"
	return reply("HTTP/1.1 404 Not Found", []header{
		{"Date", httpDate(now)},
		{"Server", apacheServer},
		{"Connection", "close"},
		{"Content-Type", "text/html; charset=iso-8859-1"},
	}, body, head, "\r\n")
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

const nginxServer = "nginx/1.24.0"

const nginxWelcome = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`

const nginx404 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>" + nginxServer + "</center>\r\n</body>\r\n</html>\r\n"

func (s *site) nginx(method, target string, now time.Time) []byte {
	head := method == "HEAD"
	path, _ := splitTarget(target)
	if path == "/" || path == "/index.html" {
		return reply("HTTP/1.1 200 OK", []header{
			{"Server", nginxServer},
			{"Date", httpDate(now)},
			{"Content-Type", "text/html"},
			{"Content-Length", clen(nginxWelcome)},
			{"Last-Modified", "Tue, 11 Apr 2023 01:45:34 GMT"},
			{"Connection", "close"},
			{"ETag", `"6434bbbe-267"`},
			{"Accept-Ranges", "bytes"},
		}, nginxWelcome, head, "\r\n")
	}
	return reply("HTTP/1.1 404 Not Found", []header{
		{"Server", nginxServer},
		{"Date", httpDate(now)},
		{"Content-Type", "text/html"},
		{"Content-Length", clen(nginx404)},
		{"Connection", "close"},
	}, nginx404, head, "\r\n")
}

// spoofedPage is a home-grown server's page: nothing IIS about it.
const spoofedPage = "<html>\n<head><title>Hello World!</title></head>\n<body>\n<p>Hello World!</p>\n</body>\n</html>\n"

// spoofed claims IIS 5.0 but frames like a hand-written server: bare LF line
// ends, no Date, Server not first on errors (see fp-107, fp-110, fp-116).
func spoofed(method, target string) []byte {
	head := method == "HEAD"
	path, _ := splitTarget(target)
	if path == "/" {
		return reply("HTTP/1.1 200 OK", []header{
			{"Server", "Microsoft-IIS/5.0"},
			{"Content-Type", "text/html"},
			{"Content-Length", clen(spoofedPage)},
		}, spoofedPage, head, "\n")
	}
	body := "<html><body>404 not found</body></html>\n"
	return reply("HTTP/1.1 404 Not Found", []header{
		{"Content-Type", "text/html"},
		{"Server", "Microsoft-IIS/5.0"},
		{"Content-Length", clen(body)},
	}, body, head, "\n")
}

// respond renders the whole answer of a genuine (non-hostile, non-broken)
// personality. It returns nil for personalities that do not answer normally.
func (s *site) respond(p Personality, method, target string, now time.Time) []byte {
	switch p {
	case IIS4Ida, IIS4NoIda, IIS5Ida, IIS5IdaPatched, IIS5NoIda, IIS51, CodeRed1, CodeRed2, Nimda, CatchAll:
		return s.iisClassic(p, method, target, now)
	case IIS6, IIS75, IIS10:
		return s.iisModern(p, method, target, now)
	case HTTPSys:
		return httpSys(method, now)
	case Apache13, Slow:
		return s.apache(method, target, now)
	case Nginx:
		return s.nginx(method, target, now)
	case SpoofedIIS:
		return spoofed(method, target)
	}
	return nil
}
