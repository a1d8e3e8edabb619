package syn

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// synLen is the size of our SYN: a 20-byte IPv4 header and a 24-byte TCP
// header carrying one MSS option (a SYN without options looks odd to some
// middleboxes).
const synLen = 20 + 24

// Offsets patched per packet.
const (
	offIPID     = 4
	offIPCsum   = 10
	offIPDst    = 16
	offTCPDport = 20 + 2
	offTCPSeq   = 20 + 4
	offTCPCsum  = 20 + 16
)

// template is a SYN from our address and port, serialised once with
// gopacket; each packet is a copy with the destination, sequence number and
// checksums patched in, so the send loop allocates nothing.
type template struct {
	b        [synLen]byte
	src      [4]byte
	srcSum   uint32 // pseudo-header sum of the fixed parts (source, protocol, length)
	ipSumFix uint32 // IP header sum without destination, ID and checksum
}

func newTemplate(src netip.AddrPort) (*template, error) {
	if !src.Addr().Is4() {
		return nil, fmt.Errorf("syn: source %v is not IPv4", src.Addr())
	}
	s := src.Addr().As4()
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP(s[:]), DstIP: net.IPv4zero.To4(),
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}},
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ip, tcp); err != nil {
		return nil, fmt.Errorf("syn: serialising the SYN template: %w", err)
	}
	if len(buf.Bytes()) != synLen {
		return nil, fmt.Errorf("syn: template is %d bytes, want %d", len(buf.Bytes()), synLen)
	}
	t := &template{src: s}
	copy(t.b[:], buf.Bytes())
	binary.BigEndian.PutUint16(t.b[offIPCsum:], 0)
	binary.BigEndian.PutUint16(t.b[offTCPCsum:], 0)
	t.ipSumFix = sum(t.b[:offIPID]) + sum(t.b[offIPID+2:offIPCsum]) + sum(t.b[offIPCsum+2:offIPDst])
	t.srcSum = sum(s[:]) + uint32(layers.IPProtocolTCP) + (synLen - 20)
	return t, nil
}

// build writes the SYN to dst with sequence number seq into p (len >= synLen).
func (t *template) build(p []byte, dst netip.AddrPort, seq uint32) {
	p = p[:synLen]
	copy(p, t.b[:])
	d := dst.Addr().As4()
	copy(p[offIPDst:], d[:])
	// The ID only needs to vary; the low sequence bits are as good as any.
	binary.BigEndian.PutUint16(p[offIPID:], uint16(seq))
	binary.BigEndian.PutUint16(p[offTCPDport:], dst.Port())
	binary.BigEndian.PutUint32(p[offTCPSeq:], seq)
	ds := sum(d[:])
	binary.BigEndian.PutUint16(p[offIPCsum:], fold(t.ipSumFix+ds+uint32(uint16(seq))))
	binary.BigEndian.PutUint16(p[offTCPCsum:], fold(t.srcSum+ds+sum(p[20:])))
}

// sum is the ones'-complement sum of b's 16-bit words, unfolded.
func sum(b []byte) uint32 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold finishes an Internet checksum.
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
