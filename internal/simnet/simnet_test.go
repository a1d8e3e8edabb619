package simnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTest starts a network on a random 127.64-127.127 /24 (so parallel
// test packages rarely meet) and retries another range if that one is taken.
func startTest(t *testing.T, cfg Config) *Network {
	t.Helper()
	var lastErr error
	for try := 0; try < 8; try++ {
		c := cfg
		if !c.Prefix.IsValid() {
			c.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(64 + rand.IntN(64)), byte(rand.IntN(256)), 0}), 24)
		}
		if c.Port == 0 {
			c.Port = uint16(20000 + rand.IntN(20000))
		}
		if c.SubnetBits == 0 {
			c.SubnetBits = 26
		}
		n, err := Start(context.Background(), c)
		if err == nil {
			t.Cleanup(func() {
				if err := n.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return n
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("Start: %v", lastErr)
	return nil
}

// oneOfEach is a Mix with one listener of every non-hostile personality.
func oneOfEach() map[Personality]int {
	m := map[Personality]int{}
	for _, p := range Personalities() {
		if s := specs[p]; s.listens && !s.hostile {
			m[p] = 1
		}
	}
	return m
}

func hostOf(t *testing.T, n *Network, p Personality) Host {
	t.Helper()
	for _, h := range n.Hosts() {
		if h.Personality == p {
			return h
		}
	}
	t.Fatalf("no host with personality %s", p)
	return Host{}
}

// fetch sends one raw request line and reads the whole answer. The deadline
// only guards against a hang; no test asserts on timing.
func fetch(t *testing.T, a netip.Addr, port uint16, req string) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp4", netip.AddrPortFrom(a, port).String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

func get(path string) string { return "GET " + path + " HTTP/1.0\r\n\r\n" }

var probe220 = "/x.ida?" + strings.Repeat("x", 220) + "=x"

func splitResponse(t *testing.T, raw []byte) (head []string, body []byte) {
	t.Helper()
	h, b, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no CRLF CRLF in %q", raw)
	}
	return strings.Split(string(h), "\r\n"), b
}

func TestPersonalityResponses(t *testing.T) {
	n := startTest(t, Config{Mix: oneOfEach(), Customers: 40, SlowDelay: 10 * time.Millisecond})
	etag5 := regexp.MustCompile(`^"[0-9a-f]+:[0-9a-f]{3}"$`)
	tests := []struct {
		p          Personality
		path       string
		status     string
		headers    []string // header names in wire order (a prefix of the real list)
		contains   []string
		absent     []string
		bodyLength int // 0: any
	}{
		{IIS5Ida, "/", "HTTP/1.1 200 OK", []string{"Server", "Content-Location", "Date", "Content-Type", "Accept-Ranges", "Last-Modified", "ETag", "Content-Length"}, []string{"Server: Microsoft-IIS/5.0", "home page"}, nil, 0},
		{IIS5Ida, "/NULL.ida", "HTTP/1.1 200 OK", []string{"Server", "Date"}, []string{`<HTML>The IDQ file c:\inetpub\wwwroot\null.ida could not be found.`}, nil, 0},
		{IIS5Ida, probe220, "HTTP/1.1 200 OK", nil, []string{"0xc0000005"}, nil, 0},
		{IIS5IdaPatched, "/NULL.ida", "HTTP/1.1 200 OK", nil, []string{"The IDQ file", "null.ida could not be found"}, nil, 0},
		{IIS5IdaPatched, probe220, "HTTP/1.1 200 OK", nil, []string{"The IDQ file"}, []string{"0xc0000005"}, 0},
		{IIS5NoIda, "/NULL.ida", "HTTP/1.1 404 Object Not Found", []string{"Server", "Date"}, []string{"The page cannot be found", "pver=5.0", "HTTP 404 - File not found"}, []string{"IDQ"}, 0},
		{IIS5NoIda, "/readme.eml", "HTTP/1.1 404 Object Not Found", nil, nil, []string{"readme.exe"}, 0},
		{IIS5NoIda, "/scripts/root.exe?/c+ver", "HTTP/1.1 404 Object Not Found", nil, nil, []string{"Version 5.00"}, 0},
		{IIS4Ida, "/", "HTTP/1.1 200 OK", []string{"Server", "Date", "Content-Length", "Content-Type", "Set-Cookie"}, []string{"Server: Microsoft-IIS/4.0", "Welcome To IIS 4.0", "Microsoft Windows NT 4.0 Option Pack"}, nil, 0},
		{IIS4Ida, "/NULL.ida", "HTTP/1.1 200 OK", nil, []string{"null.ida could not be found"}, nil, 0},
		{IIS4Ida, probe220, "HTTP/1.1 200 OK", nil, []string{"0xc0000005"}, nil, 0},
		{IIS4NoIda, "/NULL.ida", "HTTP/1.1 404 Object Not Found", nil, []string{"pver=4.0"}, nil, 0},
		{IIS51, "/", "HTTP/1.1 200 OK", []string{"Server"}, []string{"Server: Microsoft-IIS/5.1"}, nil, 0},
		{IIS6, "/", "HTTP/1.1 200 OK", []string{"Content-Length", "Content-Type", "Content-Location", "Last-Modified", "Accept-Ranges", "ETag", "Server", "X-Powered-By", "Date"}, []string{"Under Construction"}, nil, 0},
		{IIS6, "/NULL.ida", "HTTP/1.1 404 Not Found", []string{"Content-Length"}, []string{"linkid=8180"}, nil, 0},
		{IIS75, "/", "HTTP/1.1 200 OK", []string{"Content-Type", "Last-Modified", "Accept-Ranges", "ETag", "Server", "X-Powered-By", "Date", "Content-Length"}, []string{"<title>IIS7</title>", `ETag: "3a24cbe86088cb1:0"`}, nil, 689},
		{IIS10, "/", "HTTP/1.1 200 OK", []string{"Content-Type", "Last-Modified", "Accept-Ranges", "ETag", "Server", "Date", "Content-Length"}, []string{"<title>IIS Windows Server</title>"}, []string{"X-Powered-By"}, 703},
		{IIS10, "/nope", "HTTP/1.1 404 Not Found", nil, []string{"404 - File or directory not found."}, nil, 0},
		{HTTPSys, "/", "HTTP/1.1 404 Not Found", []string{"Content-Type", "Server", "Date", "Connection", "Content-Length"}, []string{"Server: Microsoft-HTTPAPI/2.0", "HTTP Error 404. The requested resource is not found."}, nil, 315},
		{CodeRed1, "/", "HTTP/1.1 200 OK", []string{"Server"}, []string{"<title>HELLO!</title>", "Welcome to http://www.worm.com !", "Hacked By Chinese!"}, nil, 0},
		{CodeRed1, "/NULL.ida", "HTTP/1.1 200 OK", nil, []string{"The IDQ file"}, nil, 0},
		{CodeRed2, "/", "HTTP/1.1 200 OK", []string{"Server", "Content-Location"}, []string{"home page"}, []string{"HELLO!"}, 0},
		{CodeRed2, "/scripts/root.exe?/c+ver", "HTTP/1.1 502 Gateway Error", []string{"Server", "Date"}, []string{"CGI Error", "The specified CGI application misbehaved by not returning a complete set of HTTP headers", "Microsoft Windows 2000 [Version 5.00.2195]"}, nil, 0},
		{CodeRed2, "/MSADC/root.exe?/c+ver", "HTTP/1.1 502 Gateway Error", nil, []string{"Microsoft Windows 2000 [Version 5.00.2195]"}, nil, 0},
		{CodeRed2, "/scripts/root.exe?/c+dir", "HTTP/1.1 502 Gateway Error", nil, []string{"CGI Error"}, []string{"Version 5.00"}, 0},
		{Nimda, "/", "HTTP/1.1 200 OK", []string{"Server", "Content-Location"}, []string{`<script language="JavaScript">window.open("readme.eml", null, "resizable=no,top=6000,left=6000")</script>`}, nil, 0},
		{Nimda, "/readme.eml", "HTTP/1.1 200 OK", []string{"Server"}, []string{"Content-Type: audio/x-wav;", `name="readme.exe"`, "Content-Transfer-Encoding: base64"}, nil, 0},
		{CatchAll, "/scripts/root.exe?/c+ver", "HTTP/1.1 200 OK", []string{"Server"}, []string{"home page"}, []string{"CGI Error"}, 0},
		{CatchAll, "/readme.eml", "HTTP/1.1 200 OK", nil, []string{"home page"}, []string{"readme.exe"}, 0},
		{CatchAll, "/NULL.ida", "HTTP/1.1 200 OK", nil, []string{"home page"}, []string{"IDQ"}, 0},
		{Apache13, "/", "HTTP/1.1 200 OK", []string{"Date", "Server"}, []string{"Server: Apache/1.3.20 (Unix)"}, nil, 0},
		{Apache13, "/NULL.ida", "HTTP/1.1 404 Not Found", nil, []string{"The requested URL /NULL.ida was not found on this server."}, nil, 0},
		{Nginx, "/", "HTTP/1.1 200 OK", []string{"Server", "Date"}, []string{"Welcome to nginx!"}, nil, 0},
		{Slow, "/", "HTTP/1.1 200 OK", []string{"Date", "Server"}, []string{"Apache"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(string(tc.p)+tc.path[:min(len(tc.path), 24)], func(t *testing.T) {
			h := hostOf(t, n, tc.p)
			raw, err := fetch(t, h.Addr, h.Port, get(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			head, body := splitResponse(t, raw)
			if head[0] != tc.status {
				t.Errorf("status line %q, want %q", head[0], tc.status)
			}
			var names []string
			cl := -1
			for _, l := range head[1:] {
				k, v, ok := strings.Cut(l, ": ")
				if !ok {
					t.Errorf("bad header line %q", l)
				}
				names = append(names, k)
				if k == "Content-Length" {
					cl, _ = strconv.Atoi(v)
				}
				if k == "ETag" && tc.p == IIS5Ida && !etag5.MatchString(v) {
					t.Errorf("ETag %q not in IIS 5 form", v)
				}
			}
			if len(names) < len(tc.headers) || !equal(names[:len(tc.headers)], tc.headers) {
				t.Errorf("header order %v, want prefix %v", names, tc.headers)
			}
			// Apache 1.3 sends its error pages without Content-Length, ended by close.
			apacheErr := tc.p == Apache13 && strings.Contains(head[0], " 404 ")
			if cl != len(body) && !(apacheErr && cl == -1) {
				t.Errorf("Content-Length %d, body %d bytes", cl, len(body))
			}
			if tc.bodyLength != 0 && len(body) != tc.bodyLength {
				t.Errorf("body %d bytes, want %d (the stock page)", len(body), tc.bodyLength)
			}
			if bytes.Contains(bytes.ReplaceAll(raw[:len(raw)-len(body)], []byte("\r\n"), nil), []byte("\n")) {
				t.Errorf("bare LF in the header block")
			}
			for _, s := range tc.contains {
				if !bytes.Contains(raw, []byte(s)) {
					t.Errorf("missing %q in\n%s", s, raw)
				}
			}
			for _, s := range tc.absent {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("unexpected %q", s)
				}
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNimdaAttachmentIsHarmless(t *testing.T) {
	n := startTest(t, Config{Mix: map[Personality]int{Nimda: 1}, Customers: 1})
	h := hostOf(t, n, Nimda)
	raw, err := fetch(t, h.Addr, h.Port, get("/readme.eml"))
	if err != nil {
		t.Fatal(err)
	}
	_, body := splitResponse(t, raw)
	_, att, ok := bytes.Cut(body, []byte("Content-ID: <EA4DMGBP9p>\r\n\r\n"))
	if !ok {
		t.Fatalf("no attachment part in %s", body)
	}
	b64, _, _ := bytes.Cut(att, []byte("\r\n\r\n"))
	dec, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(b64, []byte("\r\n"), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(dec, []byte("MZ")) || !bytes.Contains(dec, []byte("harmless placeholder")) {
		t.Errorf("attachment is not the harmless placeholder: %q", dec[:min(len(dec), 40)])
	}
}

func TestSpoofedBannerFraming(t *testing.T) {
	n := startTest(t, Config{Mix: map[Personality]int{SpoofedIIS: 1}, Customers: 1})
	h := hostOf(t, n, SpoofedIIS)
	for _, path := range []string{"/", "/NULL.ida"} {
		raw, err := fetch(t, h.Addr, h.Port, get(path))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("\r")) || !bytes.Contains(raw, []byte("\nServer: Microsoft-IIS/5.0\n")) {
			t.Errorf("%s: want bare-LF framing with a spoofed banner, got %q", path, raw)
		}
	}
}

// TestBrokenHosts covers closed, silent and reset: none of them may answer.
func TestBrokenHosts(t *testing.T) {
	n := startTest(t, Config{Mix: map[Personality]int{Silent: 1, Reset: 1}, Customers: 3, StaticBlocks: -1})
	closed := hostOf(t, n, Closed)
	if _, err := fetch(t, closed.Addr, closed.Port, get("/")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed: %v, want connection refused", err)
	}
	rh := hostOf(t, n, Reset)
	if raw, err := fetch(t, rh.Addr, rh.Port, get("/")); !errors.Is(err, syscall.ECONNRESET) || len(raw) != 0 {
		t.Errorf("reset: %q, %v; want no bytes and connection reset", raw, err)
	}
	// Silent: the answer never comes. Close the network while a client
	// waits; the client then sees EOF with no bytes.
	sh := hostOf(t, n, Silent)
	c, err := net.Dial("tcp4", netip.AddrPortFrom(sh.Addr, sh.Port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, get("/"))
	waitFor(t, func() bool { return len(n.RequestsTo(sh.Addr)) == 1 })
	done := make(chan []byte)
	go func() {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c)
		done <- b
	}()
	n.Close()
	if b := <-done; len(b) != 0 {
		t.Errorf("silent host answered %q", b)
	}
}

// waitFor polls cond; it fails only after a generous bound, so it never
// turns slowness into a failure.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached in 10s")
}

func TestHostileHosts(t *testing.T) {
	n := startTest(t, Config{Mix: map[Personality]int{IIS6: 1}, Customers: 1, Hostile: true})
	dial := func(t *testing.T, p Personality) net.Conn {
		h := hostOf(t, n, p)
		c, err := net.Dial("tcp4", netip.AddrPortFrom(h.Addr, h.Port).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, get("/"))
		return c
	}
	tests := []struct {
		p     Personality
		check func(t *testing.T, c net.Conn)
	}{
		{HostileTrickle, func(t *testing.T, c net.Conn) {
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil || b[0] != 'H' {
				t.Errorf("first byte %q, %v", b, err)
			}
		}},
		{HostileEndless, func(t *testing.T, c net.Conn) {
			if m, err := io.CopyN(io.Discard, c, 4<<20); err != nil || m != 4<<20 {
				t.Errorf("read %d bytes of the endless body: %v", m, err)
			}
		}},
		{HostileHugeLine, func(t *testing.T, c net.Conn) {
			br := bufio.NewReaderSize(c, 2<<20)
			br.ReadString('\n') // status line
			br.ReadString('\n') // Server
			l, err := br.ReadString('\n')
			if err != nil || len(l) < 1<<20 || !strings.HasPrefix(l, "X-Big: ") {
				t.Errorf("header line of %d bytes, %v", len(l), err)
			}
		}},
		{HostileGarbage, func(t *testing.T, c net.Conn) {
			b, _ := io.ReadAll(c)
			if len(b) == 0 || bytes.Contains(b, []byte("HTTP/")) {
				t.Errorf("garbage: %d bytes, HTTP/ present: %v", len(b), bytes.Contains(b, []byte("HTTP/")))
			}
		}},
		{HostileHTTP09, func(t *testing.T, c net.Conn) {
			b, _ := io.ReadAll(c)
			if !bytes.HasPrefix(b, []byte("<html>")) {
				t.Errorf("HTTP/0.9 answer %q", b)
			}
		}},
		{HostileResetMid, func(t *testing.T, c net.Conn) {
			b, err := io.ReadAll(c)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reset-mid: %q, %v; want a reset", b, err)
			}
		}},
		{HostileStatus, func(t *testing.T, c net.Conn) {
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "HTTP/1.1 200 OK\r\n" {
				t.Errorf("status-only: %q, %v", b, err)
			}
		}},
		{HostileHeaders, func(t *testing.T, c net.Conn) {
			b, err := io.ReadAll(c)
			if err != nil || bytes.Count(b, []byte("\r\nX-Filler-")) != 5000 {
				t.Errorf("many headers: %d headers, %v", bytes.Count(b, []byte("\r\nX-Filler-")), err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.p), func(t *testing.T) { tc.check(t, dial(t, tc.p)) })
	}
	// Leave a trickle and an endless connection open: Close must end them.
	dial(t, HostileTrickle)
	dial(t, HostileEndless)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCure(t *testing.T) {
	n := startTest(t, Config{Mix: oneOfEach(), Customers: 40})
	tests := []struct {
		p       Personality
		wantErr bool
		twin    Personality
		verdict Verdict
	}{
		{CodeRed1, false, IIS5NoIda, VerdictIIS},
		{CodeRed2, false, IIS5NoIda, VerdictIIS},
		{Nimda, false, IIS5NoIda, VerdictIIS},
		{IIS5Ida, false, IIS5NoIda, VerdictIIS},
		{IIS5IdaPatched, false, IIS5NoIda, VerdictIIS},
		{IIS4Ida, false, IIS4NoIda, VerdictIIS},
		{IIS6, true, IIS6, VerdictIIS},
		{Apache13, true, Apache13, VerdictWeb},
	}
	for _, tc := range tests {
		t.Run(string(tc.p), func(t *testing.T) {
			h := hostOf(t, n, tc.p)
			err := n.Cure(h.Addr)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Cure: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, ErrNotCurable) {
				t.Errorf("Cure error %v is not ErrNotCurable", err)
			}
			got, _ := n.Host(h.Addr)
			if got.Personality != tc.twin || got.Verdict != tc.verdict || got.Cured == tc.wantErr {
				t.Errorf("after Cure: %s %s cured=%v, want %s %s", got.Personality, got.Verdict, got.Cured, tc.twin, tc.verdict)
			}
			raw, err := fetch(t, h.Addr, h.Port, get("/"))
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"HELLO!", "readme.eml"} {
				if !tc.wantErr && bytes.Contains(raw, []byte(bad)) {
					t.Errorf("cured host still serves %q", bad)
				}
			}
			if !tc.wantErr {
				raw, _ := fetch(t, h.Addr, h.Port, get("/NULL.ida"))
				if !bytes.HasPrefix(raw, []byte("HTTP/1.1 404")) {
					t.Errorf("cured host still has the .ida mapping: %.60q", raw)
				}
			}
		})
	}
	if err := n.Cure(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("Cure of an address outside the roster succeeded")
	}
}

func TestRequestLog(t *testing.T) {
	n := startTest(t, Config{Mix: map[Personality]int{IIS5Ida: 1, CodeRed2: 1}, Customers: 2})
	var buf safeBuffer
	n.SetRequestLog(&buf)
	h := hostOf(t, n, CodeRed2)
	reqs := []string{get("/"), get("/NULL.ida"), "GET /scripts/root.exe?/c+ver HTTP/1.0\r\nHost: x\r\n\r\n", "HEAD / HTTP/1.0\r\n\r\n", "GET /\r\n\r\n", "\x16\x03\x01junk\r\n\r\n"}
	for _, r := range reqs {
		if _, err := fetch(t, h.Addr, h.Port, r); err != nil {
			t.Fatal(err)
		}
	}
	got := n.RequestsTo(h.Addr)
	want := []Request{
		{Method: "GET", Target: "/", Proto: "HTTP/1.0"},
		{Method: "GET", Target: "/NULL.ida", Proto: "HTTP/1.0"},
		{Method: "GET", Target: "/scripts/root.exe?/c+ver", Proto: "HTTP/1.0"},
		{Method: "HEAD", Target: "/", Proto: "HTTP/1.0"},
		{Method: "GET", Target: "/"},
		{Raw: "\x16\x03\x01junk"},
	}
	if len(got) != len(want) {
		t.Fatalf("logged %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.Target != w.Target || g.Proto != w.Proto || g.Raw != w.Raw || g.Addr != h.Addr || g.Port != h.Port || g.Time.IsZero() {
			t.Errorf("request %d: %+v, want %+v", i, g, w)
		}
	}
	if got[2].Path() != "/scripts/root.exe" {
		t.Errorf("Path() = %q", got[2].Path())
	}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	lines := 0
	for sc.Scan() {
		var r Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != len(want) {
		t.Errorf("request log has %d lines, want %d", lines, len(want))
	}
}

type safeBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *safeBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}
func (b *safeBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *safeBuffer) String() string { b.lock(); defer func() { <-b.mu }(); return b.buf.String() }

func TestRosterAndTruthFiles(t *testing.T) {
	n := startTest(t, Config{Hosts: 40, Customers: 90, Seed: 3})
	var roster, truth bytes.Buffer
	if err := n.WriteRoster(&roster); err != nil {
		t.Fatal(err)
	}
	if err := n.WriteTruth(&truth); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&roster).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !equal(rows[0], RosterHeader) {
		t.Fatalf("header %v", rows[0])
	}
	covered := map[netip.Addr]string{}
	ids := map[string]bool{}
	blocks := 0
	phone := regexp.MustCompile(`^\+1-\d{3}-555-01\d\d$`)
	for _, r := range rows[1:] {
		var pfx netip.Prefix
		if strings.Contains(r[0], "/") {
			pfx = netip.MustParsePrefix(r[0])
			blocks++
		} else {
			pfx = netip.PrefixFrom(netip.MustParseAddr(r[0]), 32)
		}
		sub := netip.MustParsePrefix(r[4])
		if !sub.Contains(pfx.Addr()) || !n.Prefix().Contains(pfx.Addr()) {
			t.Errorf("row %v: address outside its subnet or the network", r)
		}
		if ids[r[1]] || r[2] == "" || !phone.MatchString(r[3]) || r[5] == "" {
			t.Errorf("row %v: duplicate id, empty name/plan, or phone outside 555-01xx", r)
		}
		ids[r[1]] = true
		for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
			covered[a] = r[1]
		}
	}
	if blocks != 2 {
		t.Errorf("%d static blocks, want 2", blocks)
	}
	hosts := n.Hosts()
	listening := 0
	dec := json.NewDecoder(&truth)
	for i := 0; dec.More(); i++ {
		var r TruthRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if i >= len(hosts) {
			t.Fatal("truth has more lines than Hosts")
		}
		h := hosts[i]
		if r.IP != h.Addr || r.Personality != h.Personality || r.Verdict != h.Verdict || covered[r.IP] != r.CustomerID || r.Findings == nil {
			t.Errorf("truth %+v disagrees with host %+v / roster", r, h)
		}
		if r.Verdict.rank() < 0 || r.ConfirmVerdict.rank() < 0 {
			t.Errorf("truth %s: verdicts %q/%q", r.IP, r.Verdict, r.ConfirmVerdict)
		}
		if r.Listening {
			listening++
		}
		delete(covered, r.IP)
	}
	if len(covered) != 0 {
		t.Errorf("%d roster addresses missing from the truth", len(covered))
	}
	if listening != 40 || n.Listeners() != 40 {
		t.Errorf("%d listening in truth, %d listeners; want 40", listening, n.Listeners())
	}
}

func TestLayout(t *testing.T) {
	c, err := Config{Seed: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	a, err := plan(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := plan(c)
	if len(a.hosts) != len(b.hosts) {
		t.Fatal("plan is not deterministic")
	}
	perSubnet := map[netip.Prefix]int{}
	seen := map[Personality]int{}
	listeners := 0
	for i, h := range a.hosts {
		g := b.hosts[i]
		if h.addr != g.addr || h.p != g.p || h.cust != g.cust || h.etag != g.etag {
			t.Fatalf("plan is not deterministic at %s", h.addr)
		}
		if i > 0 && a.hosts[i-1].addr.Compare(h.addr) >= 0 {
			t.Fatal("hosts not in address order")
		}
		seen[h.p]++
		if specs[h.p].listens {
			listeners++
		}
		if specs[h.p].verdict == VerdictInfected {
			perSubnet[h.cust.subnet]++
		}
	}
	if n := len(a.hosts); n < 500 || n > 700 || listeners != 300 {
		t.Errorf("%d roster addresses, %d listeners; want 500-700 and 300", n, listeners)
	}
	for _, m := range defaultMix {
		if seen[m.p] == 0 {
			t.Errorf("no %s host in the default network", m.p)
		}
	}
	// Uneven: the worst subnet has at least twice the infected of the next.
	var counts []int
	for _, v := range perSubnet {
		counts = append(counts, v)
	}
	sortDesc(counts)
	if len(counts) < 2 || counts[0] < 2*counts[1] {
		t.Errorf("infected per subnet %v: not clustered", counts)
	}
	// A different seed gives a different network.
	c.Seed = 2
	d, _ := plan(c)
	same := 0
	for i := range min(len(d.hosts), len(a.hosts)) {
		if d.hosts[i].addr == a.hosts[i].addr {
			same++
		}
	}
	if same == len(a.hosts) {
		t.Error("seed has no effect")
	}
}

func sortDesc(s []int) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] > s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"real network", Config{Prefix: netip.MustParsePrefix("10.0.0.0/24")}, "only loopback"},
		{"test-net", Config{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, "only loopback"},
		{"ipv6 loopback", Config{Prefix: netip.MustParsePrefix("::1/128")}, "only loopback"},
		{"wider than loopback", Config{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, "only loopback"},
		{"128/8", Config{Prefix: netip.MustParsePrefix("128.0.0.0/16")}, "only loopback"},
		{"host bits", Config{Prefix: netip.MustParsePrefix("127.42.0.1/20")}, "host bits"},
		{"too wide", Config{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, "/16 to /28"},
		{"too many", Config{Hosts: MaxListeners + 1}, "more than"},
		{"subnet", Config{SubnetBits: 12}, "subnet"},
		{"bad mix", Config{Mix: map[Personality]int{Closed: 1}}, "no listener"},
		{"hostile mix", Config{Mix: map[Personality]int{HostileGarbage: 1}}, "hostile"},
		{"unknown", Config{Mix: map[Personality]int{"iis3": 1}}, "unknown personality"},
		{"does not fit", Config{Prefix: netip.MustParsePrefix("127.42.0.0/28"), SubnetBits: 28, Hosts: 20}, "do not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Start(context.Background(), tc.cfg)
			if err == nil {
				n.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestCloseLeavesNothing checks that Close (and cancelling Start's context)
// leaves no listener, fd or goroutine behind.
func TestCloseLeavesNothing(t *testing.T) {
	for _, viaCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("ctx=%v", viaCtx), func(t *testing.T) {
			baseG := runtime.NumGoroutine()
			baseFD := fds(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(64 + rand.IntN(64)), byte(rand.IntN(256)), 0}), 24)
			n, err := Start(ctx, Config{Prefix: prefix, Port: uint16(20000 + rand.IntN(20000)), SubnetBits: 26, Mix: oneOfEach(), Customers: 40, Hostile: true, SlowDelay: time.Hour})
			if err != nil {
				t.Skipf("range taken: %v", err)
			}
			// Leave work in flight: a slow host waiting an hour, a silent one.
			var open []net.Conn
			for _, p := range []Personality{Slow, Silent, HostileTrickle} {
				h := hostOf(t, n, p)
				c, err := net.Dial("tcp4", netip.AddrPortFrom(h.Addr, h.Port).String())
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, get("/"))
				open = append(open, c)
				waitFor(t, func() bool { return len(n.RequestsTo(h.Addr)) == 1 })
			}
			if viaCtx {
				cancel()
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range open {
				c.Close()
			}
			for _, h := range n.Hosts() {
				if h.Listening {
					if _, err := net.Dial("tcp4", netip.AddrPortFrom(h.Addr, h.Port).String()); !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("%s still accepts after Close: %v", h.Addr, err)
					}
				}
			}
			waitFor(t, func() bool { return runtime.NumGoroutine() <= baseG && fds(t) <= baseFD })
		})
	}
}

func fds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}
