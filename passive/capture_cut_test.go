package passive

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"redsweep/store"
)

// captureLayout is where the records of a capture file start and end.
type captureLayout struct {
	header int   // bytes before the first record (pcap file header, pcapng section header)
	ends   []int // end offset of every record/block, in file order
	packet []bool
}

// pcapLayout walks a little-endian pcap's 16-byte record headers.
func pcapLayout(t *testing.T, b []byte) captureLayout {
	t.Helper()
	l := captureLayout{header: 24}
	off := 24
	for off+16 <= len(b) {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
		l.ends = append(l.ends, off)
		l.packet = append(l.packet, true)
	}
	if off != len(b) {
		t.Fatalf("pcap layout ends at %d, file has %d bytes", off, len(b))
	}
	return l
}

// pcapngLayout walks a little-endian pcapng's blocks; enhanced, simple and
// obsolete packet blocks are packets.
func pcapngLayout(t *testing.T, b []byte) captureLayout {
	t.Helper()
	var l captureLayout
	off := 0
	for off+8 <= len(b) {
		typ := binary.LittleEndian.Uint32(b[off:])
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
		if typ == pcapngMagic {
			if l.header != 0 {
				t.Fatal("fixture has a second section")
			}
			l.header = off
			continue
		}
		l.ends = append(l.ends, off)
		l.packet = append(l.packet, typ == 6 || typ == 3 || typ == 2)
	}
	if off != len(b) {
		t.Fatalf("pcapng layout ends at %d, file has %d bytes", off, len(b))
	}
	return l
}

// at returns how many whole packets a cut at off keeps and whether off is a
// record boundary (a clean end of file).
func (l captureLayout) at(off int) (packets int, boundary bool) {
	boundary = off == l.header
	for i, end := range l.ends {
		if end > off {
			break
		}
		if l.packet[i] {
			packets++
		}
		boundary = end == off
	}
	return packets, boundary
}

// cutOffsets: every byte offset up to the end of the sixth record, then for
// every seventh later record its first bytes, the byte after its header, its
// middle and its last byte, and the last records whole.
func (l captureLayout) cutOffsets() []int {
	var offs []int
	for off := 0; off <= l.ends[min(5, len(l.ends)-1)]; off++ {
		offs = append(offs, off)
	}
	for i := 6; i < len(l.ends); i++ {
		start := l.ends[i-1]
		if i%7 != 0 && i < len(l.ends)-3 {
			continue
		}
		for _, off := range []int{start + 1, start + 7, start + 8, start + 15, start + 16, start + 17, start + 28, start + 29, (start + l.ends[i]) / 2, l.ends[i] - 1, l.ends[i]} {
			if off > start && off <= l.ends[i] {
				offs = append(offs, off)
			}
		}
	}
	slices.Sort(offs)
	return slices.Compact(offs)
}

func evidenceLines(ev []store.Evidence) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "%s %s %d %d %s\n", e.Addr, e.Code, e.Count, e.DistinctTargets, e.Origin)
	}
	return b.String()
}

// TestReadCaptureCutEverywhere cuts the fixtures at every byte offset of
// their first records and at a sample of later offsets. Each cut must either
// read cleanly — only at a record boundary, with exactly the packets present
// — or report a truncation naming the file and the packet being read, with
// the packets and evidence before it kept. Never a silent loss.
func TestReadCaptureCutEverywhere(t *testing.T) {
	for _, tt := range []struct {
		file   string
		layout func(*testing.T, []byte) captureLayout
	}{
		{"loopback.pcap", pcapLayout},
		{"loopback.pcapng", pcapngLayout},
	} {
		t.Run(tt.file, func(t *testing.T) {
			full, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			l := tt.layout(t, full)
			clean := map[int]string{} // packets → evidence of the clean prefix
			cleanEvidence := func(packets int) string {
				if ev, ok := clean[packets]; ok {
					return ev
				}
				end := l.header
				for i, n := 0, 0; n < packets; i++ {
					end = l.ends[i]
					if l.packet[i] {
						n++
					}
				}
				_, ev, err := ReadCapture(context.Background(), bytes.NewReader(full[:end]), "cut", CaptureOptions{})
				if err != nil {
					t.Fatalf("clean prefix of %d packets (%d bytes): %v", packets, end, err)
				}
				clean[packets] = evidenceLines(ev)
				return clean[packets]
			}
			offs := l.cutOffsets()
			for _, off := range offs {
				packets, boundary := l.at(off)
				st, ev, err := ReadCapture(context.Background(), bytes.NewReader(full[:off]), "cut", CaptureOptions{})
				switch {
				case boundary:
					if err != nil {
						t.Errorf("cut at %d (record boundary): %v", off, err)
					}
				case err == nil:
					t.Errorf("cut at %d: no error, read %d packets: silent loss", off, st.Packets)
					continue
				case !strings.Contains(err.Error(), "cut"):
					t.Errorf("cut at %d: error %q does not name the file", off, err)
				case off < l.header:
					continue // inside the file header: no packet to name
				case !strings.Contains(err.Error(), fmt.Sprintf("packet %d: truncated capture", packets+1)):
					t.Errorf("cut at %d: error %q does not report packet %d truncated", off, err, packets+1)
				}
				if st.Packets != int64(packets) {
					t.Errorf("cut at %d: read %d packets, want %d", off, st.Packets, packets)
				}
				if got, want := evidenceLines(ev), cleanEvidence(packets); got != want {
					t.Errorf("cut at %d: evidence\n%s\nwant (clean prefix of %d packets)\n%s", off, got, packets, want)
				}
			}
			t.Logf("%d cut offsets checked", len(offs))
		})
	}
}

// TestReadCaptureCutAfterHeader: a record (block) header whose data is
// missing, plain and inside a well-formed gzip stream.
func TestReadCaptureCutAfterHeader(t *testing.T) {
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	pcap, err := os.ReadFile(filepath.Join("testdata", "loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	ng, err := os.ReadFile(filepath.Join("testdata", "loopback.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	pl, nl := pcapLayout(t, pcap), pcapngLayout(t, ng)
	for _, tt := range []struct {
		name string
		data []byte
		pkt  int // packet named in the error
	}{
		{"pcap first record", pcap[:40], 1},
		{"pcap second record", pcap[:pl.ends[0]+16], 2},
		{"pcap tenth record", pcap[:pl.ends[8]+16], 10},
		{"pcap last record", pcap[:pl.ends[len(pl.ends)-2]+16], len(pl.ends)},
		{"gzip pcap second record", gz(pcap[:pl.ends[0]+16]), 2},
		{"pcapng interface block header only", ng[:nl.header+8], 1},
		{"pcapng first packet block header only", ng[:nl.ends[0]+8], 1},
		{"pcapng packet block header and fixed fields", ng[:nl.ends[0]+28], 1},
		{"gzip pcapng second packet block header", gz(ng[:nl.ends[1]+8]), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := ReadCapture(context.Background(), bytes.NewReader(tt.data), "cut.cap", CaptureOptions{})
			want := fmt.Sprintf("read capture cut.cap: packet %d: truncated capture", tt.pkt)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if st.Packets != int64(tt.pkt-1) {
				t.Errorf("kept %d packets, want %d", st.Packets, tt.pkt-1)
			}
			if tt.pkt > 10 && len(ev) == 0 {
				t.Error("evidence before the cut lost")
			}
		})
	}
}

// synthPcap writes an Ethernet pcap of the given frames, one a millisecond.
func synthPcap(t *testing.T, frames [][]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2001, 8, 4, 12, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// tcpFrame builds an Ethernet/IPv4/TCP frame from src to dst:80.
func tcpFrame(t *testing.T, src, dst string, sport uint16, syn bool, seq uint32, payload string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: seq, SYN: syn, ACK: !syn, PSH: payload != "", Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCaptureSourcesAndPacketErrors: Sources counts addresses, not
// (address, code) records; DecodeErrors counts every packet error while
// PacketErrors keeps only the first MaxPacketErrors.
func TestCaptureSourcesAndPacketErrors(t *testing.T) {
	nimda := "GET /scripts/root.exe?/c+dir HTTP/1.0\r\nHost: www\r\n\r\n"
	conn := func(src, dst string, sport uint16, req string) [][]byte {
		return [][]byte{tcpFrame(t, src, dst, sport, true, 1000, ""), tcpFrame(t, src, dst, sport, false, 1001, req)}
	}
	// A malformed IPv4 header: 10 bytes where 20 are the minimum.
	bad := append(tcpFrame(t, "192.0.2.99", "198.51.100.1", 1, true, 1, "")[:14], make([]byte, 10)...)
	bad[14] = 0x45
	fanout := func(src string, n int) [][]byte {
		var f [][]byte
		for i := range n {
			f = append(f, tcpFrame(t, src, fmt.Sprintf("198.51.100.%d", i+1), uint16(2000+i), true, 1, ""))
		}
		return f
	}
	tests := []struct {
		name         string
		frames       [][]byte
		maxErrors    int
		evidence     int
		sources      int
		decodeErrors int64
		kept         int
	}{
		{"one source, worm requests and fan-out", slices.Concat(fanout("192.0.2.1", 20), conn("192.0.2.1", "198.51.100.200", 3000, nimda)), 0, 2, 1, 0, 0},
		{"two sources, three records", slices.Concat(fanout("192.0.2.1", 20), conn("192.0.2.1", "198.51.100.200", 3000, nimda), conn("192.0.2.2", "198.51.100.200", 3001, nimda)), 0, 3, 2, 0, 0},
		{"no evidence", conn("192.0.2.3", "198.51.100.200", 3002, "GET / HTTP/1.0\r\n\r\n"), 0, 0, 0, 0, 0},
		{"packet errors beyond the kept ones", slices.Concat([][]byte{bad, bad, bad, bad, bad}, conn("192.0.2.2", "198.51.100.200", 3001, nimda)), 2, 1, 1, 5, 2},
		{"packet errors all kept", [][]byte{bad, bad}, 0, 0, 0, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := ReadCapture(context.Background(), bytes.NewReader(synthPcap(t, tt.frames)), "synth.pcap", CaptureOptions{MaxPacketErrors: tt.maxErrors})
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != tt.evidence || st.Sources != tt.sources {
				t.Errorf("%d evidence records from %d sources, want %d from %d:\n%s", len(ev), st.Sources, tt.evidence, tt.sources, evidenceLines(ev))
			}
			if st.DecodeErrors != tt.decodeErrors || len(st.PacketErrors) != tt.kept {
				t.Errorf("decode errors %d, kept %d (%v); want %d, %d", st.DecodeErrors, len(st.PacketErrors), st.PacketErrors, tt.decodeErrors, tt.kept)
			}
		})
	}
}
