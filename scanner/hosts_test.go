package scanner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Response fixtures, modelled on IIS 5.0 answers (header order as IIS 5
// sends it: Server, Content-Location, Date, Content-Type, Accept-Ranges,
// Last-Modified, ETag, Content-Length; see corpus case fp-039) and on the
// worm artefacts described in the issue and the corpus READMEs.
const iisDate = "Date: Sat, 04 Aug 2001 09:13:52 GMT\r\n"

func iis5(status, ctype, body string) string {
	return "HTTP/1.1 " + status + "\r\nServer: Microsoft-IIS/5.0\r\n" + iisDate +
		"Content-Type: " + ctype + "\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
}

var (
	iis5Default = "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nContent-Location: http://127.0.0.1/iisstart.asp\r\n" + iisDate +
		"Content-Type: text/html\r\nAccept-Ranges: bytes\r\nLast-Modified: Fri, 01 Jun 2001 20:13:52 GMT\r\nETag: \"e0d362a4c335be1:ae1\"\r\n" +
		"Content-Length: 133\r\n\r\n" + pad("<html><head><title>Under Construction</title></head><body>The site you were trying to reach does not currently have a default page.</body></html>", 133)
	iis5NotFound = iis5("404 Object Not Found", "text/html",
		"<html><head><title>The page cannot be found</title></head><body><h2>HTTP 404 - File not found</h2>Internet Information Services</body></html>")
	iis5IdaMapped = iis5("200 OK", "text/html",
		"<HTML>The IDQ file c:\\inetpub\\wwwroot\\NULL.ida could not be found.\r\n</HTML>")
	iis5AccessViolation = iis5("200 OK", "text/html",
		"<HTML><B>Error:</B> exception 0xc0000005 (access violation) in ISAPI extension idq.dll\r\n</HTML>")
	// The Code Red I page as the worm's code holds it (lowercase tags, "<bad>").
	codeRed1Page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=English\"><title>HELLO!</title></head>" +
		"<bad><hr size=5><font color=\"red\"><p align=\"center\">Welcome to http://www.worm.com !<br><br>Hacked By Chinese!</font></hr></bad></html>"
	nimdaRoot = iis5("200 OK", "text/html", "<html><body>Welcome to our shop</body></html>\r\n"+
		"<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>")
	nimdaEML = iis5("200 OK", "message/rfc822", "MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"multipart/alternative\";\r\n"+
		"\tboundary=\"====_ABC1234567890DEF_====\"\r\nX-Priority: 3\r\nX-MSMail-Priority: Normal\r\nX-Unsent: 1\r\n\r\n"+
		"--====_ABC1234567890DEF_====\r\nContent-Type: audio/x-wav;\r\n\tname=\"readme.exe\"\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-ID: <EA4DMGBP9p>\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n")
	codeRed2CGI = iis5("502 Gateway Error", "text/html", "<head><title>Error in CGI Application</title></head>\n"+
		"<body><h1>CGI Error</h1>The specified CGI application misbehaved by not returning a complete set of HTTP headers.  "+
		"The headers it did return are:<p><p><pre>\r\nMicrosoft Windows 2000 [Version 5.00.2195]\r\n</pre>")
	apacheRoot = "HTTP/1.1 200 OK\r\nDate: Sat, 04 Aug 2001 09:13:52 GMT\r\nServer: Apache/1.3.20 (Unix)\r\nLast-Modified: Mon, 02 Jul 2001 10:00:00 GMT\r\n" +
		"ETag: \"2f5cd-964-3b40f3c0\"\r\nAccept-Ranges: bytes\r\nContent-Length: 44\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n" +
		"<html><body><h1>It works!</h1></body></html>"
	// A non-IIS server wearing an IIS banner: bare-LF framing IIS never sends.
	spoofedRoot = "HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\nContent-Type: text/html\nContent-Length: 27\n\n<html><body>hi</body></html>"
)

func pad(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// route answers a request path from a table; "*" is the fallback.
func route(m map[string]string) func(path string) string {
	return func(path string) string {
		if r, ok := m[path]; ok {
			return r
		}
		if strings.HasPrefix(path, "/x.ida?") {
			if r, ok := m["/x.ida?"]; ok {
				return r
			}
		}
		return m["*"]
	}
}

// httpHost reads one request head and writes the routed answer.
func httpHost(answer func(path string) string) func(net.Conn, *reqLog, netip.Addr) {
	return func(c net.Conn, log *reqLog, a netip.Addr) {
		path, ok := readRequest(c, log, a)
		if !ok {
			return
		}
		_, _ = c.Write([]byte(answer(path)))
	}
}

func readRequest(c net.Conn, log *reqLog, a netip.Addr) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", false
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" || l == "\n" {
			break
		}
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", false
	}
	log.add(a, f[1])
	return f[1], true
}

// reqLog records the paths each test host was asked for.
type reqLog struct {
	mu    sync.Mutex
	paths map[netip.Addr][]string
}

func (l *reqLog) add(a netip.Addr, p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paths == nil {
		l.paths = map[netip.Addr][]string{}
	}
	l.paths[a] = append(l.paths[a], p)
}

func (l *reqLog) get(a netip.Addr) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.paths[a]...)
}

// testNet is a set of loopback listeners, one per address, all on one high
// port, inside a random 127.x.y.0/24 so parallel test binaries do not clash.
type testNet struct {
	port  uint16
	addrs []netip.Addr
	log   *reqLog
	stop  func()
}

// nilHandler marks an address with no listener (closed port).
var nilHandler func(net.Conn, *reqLog, netip.Addr)

func startNet(t testing.TB, handlers []func(net.Conn, *reqLog, netip.Addr)) *testNet {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		tn, err := tryStartNet(handlers)
		if err == nil {
			t.Cleanup(tn.stop)
			return tn
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("start test network: %v", err)
		}
	}
	t.Fatal("start test network: no free port after 20 attempts")
	return nil
}

func tryStartNet(handlers []func(net.Conn, *reqLog, netip.Addr)) (*testNet, error) {
	x, y := byte(100+rand.IntN(100)), byte(rand.IntN(256))
	port := uint16(20000 + rand.IntN(40000))
	tn := &testNet{port: port, log: &reqLog{}}
	var (
		lns   []net.Listener
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	for i, h := range handlers {
		a := netip.AddrFrom4([4]byte{127, x, y, byte(i + 1)})
		tn.addrs = append(tn.addrs, a)
		if h == nil {
			continue
		}
		ln, err := net.Listen("tcp", netip.AddrPortFrom(a, port).String())
		if err != nil {
			closeAll()
			return nil, err
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns[c] = struct{}{}
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						mu.Lock()
						delete(conns, c)
						mu.Unlock()
						c.Close()
					}()
					h(c, tn.log, a)
				}()
			}
		}()
	}
	tn.stop = closeAll
	return tn, nil
}

// Hostile behaviours (issue 7 point 1).

func tarpit(c net.Conn, _ *reqLog, _ netip.Addr) {
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, _ = bufio.NewReader(c).ReadByte()
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}

func trickle(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	msg := []byte("HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\n")
	for i := 0; ; i++ {
		if _, err := c.Write(msg[i%len(msg) : i%len(msg)+1]); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}

func endlessBody(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nServer: Apache/1.3.20 (Unix)\r\nContent-Type: text/html\r\n\r\n"))
	chunk := bytes.Repeat([]byte("<p>more</p>"), 1000)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

func hugeHeader(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nX-Big: " + strings.Repeat("A", 1<<20) + "\r\n\r\nhi"))
}

func manyHeaders(n int) func(net.Conn, *reqLog, netip.Addr) {
	return func(c net.Conn, log *reqLog, a netip.Addr) {
		if _, ok := readRequest(c, log, a); !ok {
			return
		}
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nServer: Apache/1.3.20 (Unix)\r\n")
		for i := range n {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		b.WriteString("Content-Length: 2\r\n\r\nok")
		_, _ = c.Write([]byte(b.String()))
	}
}

func garbage(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	b := make([]byte, 3000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0] = 0x00
	_, _ = c.Write(b)
}

func http09(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	_, _ = c.Write([]byte("<html><body>HTTP/0.9 page, no status line</body></html>\n"))
}

func resetMid(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nContent-Ty"))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST
	}
}

func closeAfterStatus(c net.Conn, log *reqLog, a netip.Addr) {
	if _, ok := readRequest(c, log, a); !ok {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n"))
}

// countingDial wraps the dialer and records the most bytes any one
// connection delivered, to check the read cap from the client side.
type countingDial struct {
	mu      sync.Mutex
	maxRead map[string]int
}

func (d *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c, d: d, addr: addr}, nil
}

func (d *countingDial) max(addr string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maxRead[addr]
}

type countConn struct {
	net.Conn
	d    *countingDial
	addr string
	n    int
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n += n
	c.d.mu.Lock()
	if c.d.maxRead == nil {
		c.d.maxRead = map[string]int{}
	}
	c.d.maxRead[c.addr] = max(c.d.maxRead[c.addr], c.n)
	c.d.mu.Unlock()
	return n, err
}
