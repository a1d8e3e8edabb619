package syn

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"redsweep/scanner"
)

func TestSipHashReferenceVectors(t *testing.T) {
	// From the SipHash paper's test vectors: key 00..0f, message 00..len-1.
	k0 := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	k1 := binary.LittleEndian.Uint64([]byte{8, 9, 10, 11, 12, 13, 14, 15})
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, tc := range []struct {
		n    int
		want uint64
	}{{0, 0x726fdb47dd0e0e31}, {1, 0x74f839c593dc67fd}, {15, 0xa129ca6149be45e5}} {
		if got := sipHash24(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#x, want %#x", tc.n, got, tc.want)
		}
	}
}

var (
	testSrc = netip.MustParseAddrPort("198.19.255.1:61234")
	testDst = netip.MustParseAddrPort("198.18.0.77:80")
	testKey = cookieKey{0x0123456789abcdef, 0xfedcba9876543210}
)

func TestCookieValidation(t *testing.T) {
	c := testKey.cookie(testSrc, testDst)
	if !testKey.validAck(testSrc, testDst, c+1) {
		t.Fatal("the genuine ack (cookie+1) was rejected")
	}
	other := netip.MustParseAddrPort("198.18.0.77:81")
	for name, ok := range map[string]bool{
		"ack = cookie":         testKey.validAck(testSrc, testDst, c),
		"ack = cookie+2":       testKey.validAck(testSrc, testDst, c+2),
		"other target port":    testKey.validAck(testSrc, other, c+1),
		"other target address": testKey.validAck(testSrc, netip.MustParseAddrPort("198.18.0.78:80"), c+1),
		"other source port":    testKey.validAck(netip.MustParseAddrPort("198.19.255.1:61235"), testDst, c+1),
		"other key":            cookieKey{1, 2}.validAck(testSrc, testDst, c+1),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// reply builds what a target would send back to our SYN.
func replyPacket(t *testing.T, from, to netip.AddrPort, syn, rst, ackFlag bool, ack uint32) (*layers.IPv4, *layers.TCP) {
	t.Helper()
	f, d := from.Addr().As4(), to.Addr().As4()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: f[:], DstIP: d[:]}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(from.Port()), DstPort: layers.TCPPort(to.Port()),
		SYN: syn, RST: rst, ACK: ackFlag, Ack: ack, Seq: 999, Window: 1000}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp); err != nil {
		t.Fatal(err)
	}
	// Decode it back, as the receiver does.
	var ip2 layers.IPv4
	var tcp2 layers.TCP
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip2, &tcp2)
	var dec []gopacket.LayerType
	if err := p.DecodeLayers(buf.Bytes(), &dec); err != nil {
		t.Fatal(err)
	}
	return &ip2, &tcp2
}

func TestClassifyTCPReplies(t *testing.T) {
	c := testKey.cookie(testSrc, testDst)
	for _, tc := range []struct {
		name          string
		from, to      netip.AddrPort
		syn, rst, ack bool
		ackNo         uint32
		want          replyKind // 0: rejected
	}{
		{"syn-ack", testDst, testSrc, true, false, true, c + 1, replyOpen},
		{"rst-ack", testDst, testSrc, false, true, true, c + 1, replyClosed},
		{"syn-ack with wrong ack", testDst, testSrc, true, false, true, c, 0},
		{"rst-ack with wrong ack", testDst, testSrc, false, true, true, c + 7, 0},
		{"syn-ack to another port of ours", testDst, netip.MustParseAddrPort("198.19.255.1:40000"), true, false, true, c + 1, 0},
		{"syn-ack from another port", netip.MustParseAddrPort("198.18.0.77:8080"), testSrc, true, false, true, c + 1, 0},
		{"rst without ack", testDst, testSrc, false, true, false, c + 1, 0},
		{"bare ack", testDst, testSrc, false, false, true, c + 1, 0},
	} {
		ip, tcp := replyPacket(t, tc.from, tc.to, tc.syn, tc.rst, tc.ack, tc.ackNo)
		r, ok := classifyTCP(testKey, testSrc, ip, tcp)
		switch {
		case tc.want == 0 && ok:
			t.Errorf("%s: accepted as %v", tc.name, r.kind)
		case tc.want != 0 && (!ok || r.kind != tc.want || r.from != testDst):
			t.Errorf("%s: got %+v ok=%v, want kind %v from %v", tc.name, r, ok, tc.want, testDst)
		}
	}
}

func TestQuotedSYNInICMP(t *testing.T) {
	tm, err := newTemplate(testSrc)
	if err != nil {
		t.Fatal(err)
	}
	var pkt [synLen]byte
	tm.build(pkt[:], testDst, testKey.cookie(testSrc, testDst))
	// An ICMP error quotes the IP header and the first 8 TCP bytes.
	if got, ok := quotedSYN(testKey, testSrc, pkt[:28]); !ok || got != testDst {
		t.Fatalf("genuine quote: got %v ok=%v", got, ok)
	}
	bad := pkt
	bad[offTCPSeq+3]++ // someone else's sequence number
	if _, ok := quotedSYN(testKey, testSrc, bad[:28]); ok {
		t.Error("quote with a wrong sequence number accepted")
	}
	if _, ok := quotedSYN(testKey, testSrc, pkt[:27]); ok {
		t.Error("truncated quote accepted")
	}
	if _, ok := quotedSYN(testKey, netip.MustParseAddrPort("198.19.255.1:61235"), pkt[:28]); ok {
		t.Error("quote of another source port accepted")
	}
}

func TestTemplateSerialisation(t *testing.T) {
	tm, err := newTemplate(testSrc)
	if err != nil {
		t.Fatal(err)
	}
	var pkt [synLen]byte
	for i, dst := range []netip.AddrPort{testDst, netip.MustParseAddrPort("0.0.0.0:1"),
		netip.MustParseAddrPort("255.255.255.254:65535"), netip.MustParseAddrPort("10.1.2.3:443")} {
		seq := testKey.cookie(testSrc, dst) + uint32(i)*0x9e3779b9
		tm.build(pkt[:], dst, seq)
		p := gopacket.NewPacket(pkt[:], layers.LayerTypeIPv4, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("%v: decode: %v", dst, el.Error())
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("%v: layers missing", dst)
		}
		if ip.SrcIP.String() != testSrc.Addr().String() || ip.DstIP.String() != dst.Addr().String() ||
			ip.Protocol != layers.IPProtocolTCP || ip.Length != synLen || ip.TTL != 64 || ip.IHL != 5 {
			t.Errorf("%v: IP header %+v", dst, ip)
		}
		if uint16(tcp.SrcPort) != testSrc.Port() || uint16(tcp.DstPort) != dst.Port() || tcp.Seq != seq ||
			!tcp.SYN || tcp.ACK || tcp.RST || tcp.FIN || tcp.Ack != 0 || tcp.DataOffset != 6 {
			t.Errorf("%v: TCP header %+v", dst, tcp)
		}
		if len(tcp.Options) != 1 || tcp.Options[0].OptionType != layers.TCPOptionKindMSS ||
			!bytes.Equal(tcp.Options[0].OptionData, []byte{0x05, 0xb4}) {
			t.Errorf("%v: options %v", dst, tcp.Options)
		}
		// Both checksums: gopacket recomputing them over the decoded
		// headers must reproduce our bytes exactly.
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ip, tcp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), pkt[:]) {
			t.Errorf("%v: checksums differ from gopacket's:\n got  %x\n want %x", dst, pkt[:], buf.Bytes())
		}
	}
	if _, err := newTemplate(netip.MustParseAddrPort("[2001:db8::1]:61234")); err == nil {
		t.Error("IPv6 source accepted")
	}
}

// BenchmarkBuildSYN is the send loop's CPU work per packet: cookie,
// template copy, patches and checksums.
func BenchmarkBuildSYN(b *testing.B) {
	tm, err := newTemplate(testSrc)
	if err != nil {
		b.Fatal(err)
	}
	var pkt [synLen]byte
	base := testDst.Addr().As4()
	b.ReportAllocs()
	for i := range b.N {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		dst := netip.AddrPortFrom(netip.AddrFrom4(a), 80)
		tm.build(pkt[:], dst, testKey.cookie(testSrc, dst))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkEngine is the scheduler's cost per target on virtual time (no
// sockets): pacing, bookkeeping and the Hit, for targets that answer RST.
func BenchmarkEngine(b *testing.B) {
	clk := &fakeClock{now: time.Unix(1_000_000, 0)}
	out := make(chan scanner.Hit, 1024)
	go func() {
		for range out {
		}
	}()
	e := (&Scanner{Rate: 1_000_000, SubnetRate: -1}).engine(out)
	e.clk = clk
	e.send = func(dst netip.AddrPort) error {
		clk.schedule(reply{from: dst, kind: replyClosed, at: clk.now.Add(time.Millisecond)})
		return nil
	}
	i := 0
	e.next = func() (netip.AddrPort, bool) {
		if i == b.N {
			return netip.AddrPort{}, false
		}
		i++
		return addr(i), true
	}
	b.ReportAllocs()
	if err := e.run(context.Background()); err != nil {
		b.Fatal(err)
	}
	close(out)
}
