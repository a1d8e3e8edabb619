package syn

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// cookieKey keys the SYN cookie. A fresh random key per sweep means replies
// to another sweep's (or another tool's) probes fail validation.
type cookieKey struct{ k0, k1 uint64 }

// cookie is the sequence number sent to dst from src: SipHash-2-4 of the
// four-tuple, truncated to 32 bits. A SYN-ACK or RST answering it carries
// ack = cookie+1; an ICMP error quotes it back as the sequence number. No
// per-target state is needed to tell a genuine reply from a forged or stray
// one (a blind forger has a 2^-32 chance per packet).
func (k cookieKey) cookie(src, dst netip.AddrPort) uint32 {
	var m [12]byte
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(m[0:4], s[:])
	copy(m[4:8], d[:])
	binary.BigEndian.PutUint16(m[8:], src.Port())
	binary.BigEndian.PutUint16(m[10:], dst.Port())
	return uint32(sipHash24(k.k0, k.k1, m[:]))
}

// validAck reports whether ack answers our SYN from src to dst.
func (k cookieKey) validAck(src, dst netip.AddrPort, ack uint32) bool {
	return ack == k.cookie(src, dst)+1
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein), written out because
// the module has no SipHash dependency; tested against the reference vectors.
func sipHash24(k0, k1 uint64, p []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(p)
	for len(p) >= 8 {
		m := binary.LittleEndian.Uint64(p)
		v3 ^= m
		round()
		round()
		v0 ^= m
		p = p[8:]
	}
	last := uint64(n) << 56
	for i, c := range p {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
