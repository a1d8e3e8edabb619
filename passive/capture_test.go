package passive

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"redsweep/store"
	"redsweep/triage"
)

// wantLoopback is what the generated loopback captures hold (see
// gencap_linux_test.go for who sent what). Hosts 127.77.20.x (ordinary
// browsing, a scanner's single /NULL.ida, 5-host browsing) must not appear.
var wantLoopback = []struct {
	addr, code string
	count      int64
}{
	{"127.77.0.81", triage.InfectedReply, 1},
	{"127.77.10.1", triage.CodeRed1Traffic, 1},
	{"127.77.10.2", triage.CodeRed2Traffic, 1},
	{"127.77.10.3", triage.NimdaTraffic, 17},   // 16 probes + tftp follow-up
	{"127.77.10.4", triage.CodeRed2Traffic, 1}, // split over 5 segments
	{"127.77.10.5", triage.WormFanout, 25},
	{"127.77.10.6", triage.NimdaTraffic, 1}, // second request on a keep-alive connection
	{"::1", triage.NimdaTraffic, 1},
}

func readCaptureFile(t testing.TB, path string, opt CaptureOptions) (CaptureStats, []store.Evidence, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadCapture(context.Background(), f, filepath.Base(path), opt)
}

func checkLoopbackEvidence(t *testing.T, ev []store.Evidence) {
	t.Helper()
	var got, want []string
	for _, e := range ev {
		got = append(got, fmt.Sprintf("%s %s %d", e.Addr, e.Code, e.Count))
	}
	for _, w := range wantLoopback {
		want = append(want, fmt.Sprintf("%s %s %d", w.addr, w.code, w.count))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("evidence\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range ev {
		if e.Source != triage.SourceCapture || e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) || !strings.Contains(e.Origin, "#") {
			t.Errorf("%s %s: source %q seen %v..%v origin %q", e.Addr, e.Code, e.Source, e.FirstSeen, e.LastSeen, e.Origin)
		}
		if strings.HasPrefix(e.Addr.String(), "127.77.20.") {
			t.Errorf("ordinary host %s raised %s", e.Addr, e.Code)
		}
	}
}

func TestReadCaptureFixtures(t *testing.T) {
	for _, tt := range []struct{ file, format string }{
		{"loopback.pcap", "pcap"},
		{"loopback.pcapng", "pcapng"},
		{"loopback.pcap.gz", "pcap"},
		{"reordered.pcap", "pcap"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			st, ev, err := readCaptureFile(t, filepath.Join("testdata", tt.file), CaptureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Format != tt.format || st.Gzip != strings.HasSuffix(tt.file, ".gz") {
				t.Errorf("format %s gzip %v", st.Format, st.Gzip)
			}
			checkLoopbackEvidence(t, ev)
			if st.DecodeErrors != 0 || st.Packets == 0 {
				t.Errorf("stats %+v", st)
			}
			if tt.file == "loopback.pcap" {
				golden(t, "capture-loopback.json", struct {
					Stats    CaptureStats
					Evidence []store.Evidence
				}{st, ev})
			}
		})
	}
}

// TestReorderedFixtureIsOutOfOrder checks the fixture itself: in
// reordered.pcap a data segment of the split flow precedes one with a lower
// sequence number (so the reassembly test above means something).
func TestReorderedFixtureIsOutOfOrder(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "reordered.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint32
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if isSplitData(data) {
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			seqs = append(seqs, p.Layer(layers.LayerTypeTCP).(*layers.TCP).Seq)
		}
	}
	if len(seqs) < 3 || seqs[0] < seqs[len(seqs)-1] {
		t.Fatalf("split flow sequence numbers in file order %v: not reordered", seqs)
	}
}

// packetOffsets returns the file offset of each record of a pcap.
func packetOffsets(b []byte) []int {
	var offs []int
	for off := 24; off+16 <= len(b); {
		offs = append(offs, off)
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return offs
}

func TestReadCaptureTruncated(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	offs := packetOffsets(full)
	// Find the packet carrying Code Red I (127.77.10.1): cut after it.
	cr1 := -1
	for i, off := range offs {
		if bytes.Contains(full[off:off+16+int(binary.LittleEndian.Uint32(full[off+8:]))], []byte("NNNNNNNN")) {
			cr1 = i
			break
		}
	}
	if cr1 < 0 {
		t.Fatal("no Code Red I packet in loopback.pcap")
	}
	for _, tt := range []struct {
		name string
		cut  int // bytes kept
		pkt  int // packet number in the error
	}{
		{"inside a record header", offs[cr1+3] + 7, cr1 + 4},
		{"just after a record header (data missing)", offs[cr1+3] + 16, cr1 + 4},
		{"one byte of packet data", offs[cr1+3] + 17, cr1 + 4},
		{"inside packet data", offs[cr1+3] + 16 + 10, cr1 + 4},
		{"inside the file header", 10, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := ReadCapture(context.Background(), bytes.NewReader(full[:tt.cut]), "cut.pcap", CaptureOptions{})
			if err == nil {
				t.Fatal("no error for a truncated capture")
			}
			if !strings.Contains(err.Error(), "cut.pcap") {
				t.Errorf("error %q does not name the file", err)
			}
			if tt.pkt == 0 {
				return
			}
			if want := fmt.Sprintf("packet %d", tt.pkt); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if st.Packets != int64(tt.pkt-1) {
				t.Errorf("read %d packets, want %d", st.Packets, tt.pkt-1)
			}
			found := false
			for _, e := range ev {
				if e.Addr == netip.MustParseAddr("127.77.10.1") && e.Code == triage.CodeRed1Traffic {
					found = true
				}
			}
			if !found {
				t.Errorf("evidence before the cut lost: %v", ev)
			}
		})
	}
}

// rewriteLink re-frames every Ethernet frame of loopback.pcap for another
// link type, to test the decoders on the same (real) traffic.
func rewriteLink(t *testing.T, lt layers.LinkType, conv func(eth []byte) []byte) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65535+64, lt); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d := conv(data)
		ci.CaptureLength, ci.Length = len(d), len(d)
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestReadCaptureLinkTypes(t *testing.T) {
	etherType := func(eth []byte) uint16 { return binary.BigEndian.Uint16(eth[12:14]) }
	tests := []struct {
		name string
		lt   layers.LinkType
		conv func(eth []byte) []byte
	}{
		{"802.1Q VLAN", layers.LinkTypeEthernet, func(e []byte) []byte {
			out := append([]byte{}, e[:12]...)
			out = append(out, 0x81, 0x00, 0x00, 0x2a) // TPID, VLAN 42
			return append(out, e[12:]...)
		}},
		{"Linux cooked (SLL)", layers.LinkTypeLinuxSLL, func(e []byte) []byte {
			h := make([]byte, 16)
			binary.BigEndian.PutUint16(h[0:], 0)   // to us
			binary.BigEndian.PutUint16(h[2:], 772) // ARPHRD_LOOPBACK
			binary.BigEndian.PutUint16(h[4:], 6)
			binary.BigEndian.PutUint16(h[14:], etherType(e))
			return append(h, e[14:]...)
		}},
		{"BSD null loopback", layers.LinkTypeNull, func(e []byte) []byte {
			h := make([]byte, 4)
			fam := uint32(2)
			if etherType(e) == 0x86dd {
				fam = 24
			}
			binary.LittleEndian.PutUint32(h, fam)
			return append(h, e[14:]...)
		}},
		{"raw IP", layers.LinkTypeRaw, func(e []byte) []byte { return append([]byte{}, e[14:]...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rewriteLink(t, tt.lt, tt.conv)
			st, ev, err := ReadCapture(context.Background(), bytes.NewReader(b), "derived.pcap", CaptureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.DecodeErrors != 0 || st.NotDecoded != 0 {
				t.Errorf("decode errors %d, not decoded %d: %v", st.DecodeErrors, st.NotDecoded, st.PacketErrors)
			}
			checkLoopbackEvidence(t, ev)
		})
	}
}

func TestReadCaptureOptions(t *testing.T) {
	path := filepath.Join("testdata", "loopback.pcap")
	tests := []struct {
		name     string
		opt      CaptureOptions
		absent   []string // "addr code" that must not be found
		presentN int      // evidence records expected
	}{
		// A 64-byte head cap cannot hold a Code Red request line (~400 bytes).
		{"head cap bounds matching", CaptureOptions{MaxRequestHead: 64}, []string{"127.77.10.1 codered1-traffic", "127.77.10.2 codered2-traffic"}, -1},
		// 25 destinations do not reach a threshold of 26.
		{"fan-out threshold", CaptureOptions{FanoutThreshold: 26}, []string{"127.77.10.5 worm-fanout"}, len(wantLoopback) - 1},
		// 5 destinations reach a threshold of 5: the 5-host browser is flagged.
		{"low threshold flags the browser", CaptureOptions{FanoutThreshold: 5}, nil, len(wantLoopback) + 1},
		// Flows forced out almost at once still see every worm request.
		{"tiny flow table", CaptureOptions{MaxFlows: 1}, nil, len(wantLoopback)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ev, err := readCaptureFile(t, path, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ev {
				for _, a := range tt.absent {
					if fmt.Sprintf("%s %s", e.Addr, e.Code) == a {
						t.Errorf("found %s", a)
					}
				}
			}
			if tt.presentN >= 0 && len(ev) != tt.presentN {
				t.Errorf("%d evidence records, want %d: %v", len(ev), tt.presentN, ev)
			}
		})
	}
}

func TestReadCaptureNotACapture(t *testing.T) {
	for _, in := range []string{"", "abc", "GET / HTTP/1.0\r\n\r\n", "\x1f\x8b\x08"} {
		_, _, err := ReadCapture(context.Background(), strings.NewReader(in), "x.bin", CaptureOptions{})
		if err == nil || !strings.Contains(err.Error(), "x.bin") {
			t.Errorf("input %q: error %v", in, err)
		}
	}
}

func FuzzReadCapture(f *testing.F) {
	for _, name := range []string{"loopback.pcap", "loopback.pcapng"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 3000)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, ev, _ := ReadCapture(context.Background(), bytes.NewReader(data), "fuzz", CaptureOptions{})
		if int64(len(ev)) > st.Packets {
			t.Fatalf("%d evidence records from %d packets", len(ev), st.Packets)
		}
		if st.Sources > len(ev) || (len(ev) > 0 && st.Sources == 0) {
			t.Fatalf("%d sources for %d evidence records", st.Sources, len(ev))
		}
	})
}

// BenchmarkReadCapture reports packets/s and MB/s reading loopback.pcap
// repeated 100 times (each copy 5 minutes later, ~3 MB), or
// $REDSWEEP_BENCH_PCAP when set (for make bench against tshark).
func BenchmarkReadCapture(b *testing.B) {
	var data []byte
	name := "loopback-x100.pcap"
	if p := os.Getenv("REDSWEEP_BENCH_PCAP"); p != "" {
		var err error
		if data, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
		name = filepath.Base(p)
	} else {
		data = repeatCapture(b, filepath.Join("testdata", "loopback.pcap"), 100)
	}
	b.SetBytes(int64(len(data)))
	var pkts int64
	for b.Loop() {
		st, _, err := ReadCapture(context.Background(), bytes.NewReader(data), name, CaptureOptions{})
		if err != nil {
			b.Fatal(err)
		}
		pkts += st.Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "packets/s")
}

func repeatCapture(b *testing.B, path string, n int) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			ci.Timestamp = ci.Timestamp.Add(time.Duration(i) * 5 * time.Minute)
			if err := w.WritePacket(ci, d); err != nil {
				b.Fatal(err)
			}
		}
	}
	return out.Bytes()
}

// isSplitData: a TCP segment with payload from 127.77.10.4.
func isSplitData(b []byte) bool {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return ip != nil && tcp != nil && ip.SrcIP.Equal(net.ParseIP("127.77.10.4")) && len(tcp.Payload) > 0
}
