package syn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"
)

// snapLen is what the BPF filters keep of a reply: headers only.
const snapLen = 256

func probeRaw() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("syn: raw sockets need root or CAP_NET_RAW "+
				"(setcap cap_net_raw+ep on the binary); use connect discovery: %w", err)
		}
		return fmt.Errorf("syn: raw socket: %w", err)
	}
	unix.Close(fd)
	return nil
}

// rawIO is the sweep's sockets: one to send, two to receive, and one that
// only holds the source port.
type rawIO struct {
	src     netip.AddrPort
	key     cookieKey
	tmpl    *template
	sendFD  int
	sa      unix.SockaddrInet4 // reused so a send allocates nothing
	pkt     [synLen]byte
	tcpRx   *os.File
	icmpRx  *os.File
	reserve int
	stop    chan struct{}
	once    sync.Once
}

func openRaw(src netip.AddrPort, key cookieKey) (_ *rawIO, err error) {
	if err := outsideEphemeral(src.Port()); err != nil {
		return nil, err
	}
	tmpl, err := newTemplate(src)
	if err != nil {
		return nil, err
	}
	r := &rawIO{src: src, key: key, tmpl: tmpl, sendFD: -1, reserve: -1, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	sa := &unix.SockaddrInet4{Port: int(src.Port()), Addr: src.Addr().As4()}
	// Reserve the port: a bound TCP socket keeps the kernel (and a second
	// sweep) from using it, without listening or accepting anything.
	if r.reserve, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("syn: socket: %w", err)
	}
	if err = unix.Bind(r.reserve, sa); err != nil {
		return nil, fmt.Errorf("syn: reserving source %v (another sweep running?): %w", src, err)
	}
	// IPPROTO_RAW implies IP_HDRINCL and receives nothing.
	if r.sendFD, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
		return nil, fmt.Errorf("syn: raw send socket: %w", err)
	}
	_ = unix.SetsockoptInt(r.sendFD, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if r.tcpRx, err = openRx(unix.IPPROTO_TCP, src.Addr(), tcpFilter(src.Port())); err != nil {
		return nil, err
	}
	if r.icmpRx, err = openRx(unix.IPPROTO_ICMP, src.Addr(), icmpFilter()); err != nil {
		return nil, err
	}
	return r, nil
}

// openRx opens a raw receive socket for proto, bound to our address (so it
// only sees packets to us) and filtered in the kernel.
func openRx(proto int, local netip.Addr, filter []unix.SockFilter) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("syn: raw receive socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("syn: attaching the reply filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("syn: binding the reply socket to %v: %w", local, err)
	}
	// A large buffer rides out the moments the engine is busy; FORCE needs
	// CAP_NET_ADMIN, so fall back to the capped option.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	// A non-blocking descriptor joins Go's poller, so Close ends a pending Read.
	return os.NewFile(uintptr(fd), "syn-rx-"+strconv.Itoa(proto)), nil
}

// tcpFilter keeps unfragmented TCP segments to our port; data starts at the
// IP header on a raw socket.
func tcpFilter(port uint16) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 6},               // flags and fragment offset
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 4, K: 0x1fff}, // a fragment: drop
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},              // X = IP header length
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},               // TCP destination port
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 1, K: uint32(port)},
		{Code: unix.BPF_RET | unix.BPF_K, K: snapLen},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

// icmpFilter keeps unfragmented ICMP destination-unreachable messages.
func icmpFilter() []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 6},
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 4, K: 0x1fff},
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_IND, K: 0}, // ICMP type
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 1, K: uint32(layers.ICMPv4TypeDestinationUnreachable)},
		{Code: unix.BPF_RET | unix.BPF_K, K: snapLen},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

// outsideEphemeral refuses a source port the kernel may hand to an ordinary
// connection (the probe stage's), which would then see our replies.
func outsideEphemeral(port uint16) error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return nil // not Linux procfs: nothing to check against
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 == nil && err2 == nil && int(port) >= lo && int(port) <= hi {
		return fmt.Errorf("syn: source port %d is inside the ephemeral range %d-%d; choose one outside it", port, lo, hi)
	}
	return nil
}

// send emits one SYN to dst. It allocates nothing.
func (r *rawIO) send(dst netip.AddrPort) error {
	r.tmpl.build(r.pkt[:], dst, r.key.cookie(r.src, dst))
	r.sa.Addr = dst.Addr().As4()
	for {
		err := unix.Sendto(r.sendFD, r.pkt[:], 0, &r.sa)
		if err != unix.EINTR {
			return err
		}
	}
}

// receive reads replies until stopReceive; the channel closes when both
// readers have returned.
func (r *rawIO) receive(out chan<- reply) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.readLoop(r.tcpRx, out, r.parseTCP()) }()
	go func() { defer wg.Done(); r.readLoop(r.icmpRx, out, r.parseICMP()) }()
	go func() { wg.Wait(); close(done) }()
	return done
}

func (r *rawIO) stopReceive() {
	r.once.Do(func() {
		close(r.stop)
		r.tcpRx.Close()
		r.icmpRx.Close()
	})
}

func (r *rawIO) readLoop(f *os.File, out chan<- reply, parse func([]byte) (reply, bool)) {
	buf := make([]byte, 1500)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return // closed (stopReceive) or the socket failed
		}
		rep, ok := parse(buf[:n])
		if !ok {
			continue
		}
		rep.at = time.Now()
		select {
		case out <- rep:
		case <-r.stop:
			return
		}
	}
}

// parseTCP validates a SYN-ACK or RST: it must answer our SYN, i.e. ack
// our cookie for that four-tuple.
func (r *rawIO) parseTCP() func([]byte) (reply, bool) {
	var ip4 layers.IPv4
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip4, &tcp)
	parser.IgnoreUnsupported = true // payloads
	decoded := make([]gopacket.LayerType, 0, 2)
	return func(b []byte) (reply, bool) {
		if parser.DecodeLayers(b, &decoded) != nil || len(decoded) < 2 {
			return reply{}, false
		}
		return classifyTCP(r.key, r.src, &ip4, &tcp)
	}
}

func classifyTCP(key cookieKey, src netip.AddrPort, ip4 *layers.IPv4, tcp *layers.TCP) (reply, bool) {
	from, ok := netip.AddrFromSlice(ip4.SrcIP)
	to, ok2 := netip.AddrFromSlice(ip4.DstIP)
	if !ok || !ok2 || to != src.Addr() || uint16(tcp.DstPort) != src.Port() || !tcp.ACK {
		return reply{}, false
	}
	target := netip.AddrPortFrom(from, uint16(tcp.SrcPort))
	if !key.validAck(src, target, tcp.Ack) {
		return reply{}, false
	}
	switch {
	case tcp.RST:
		return reply{from: target, kind: replyClosed}, true
	case tcp.SYN:
		return reply{from: target, kind: replyOpen}, true
	}
	return reply{}, false
}

// parseICMP validates a destination-unreachable error: the quoted header
// must be our SYN, carrying our cookie as its sequence number.
func (r *rawIO) parseICMP() func([]byte) (reply, bool) {
	var ip4 layers.IPv4
	var icmp layers.ICMPv4
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip4, &icmp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 2)
	return func(b []byte) (reply, bool) {
		if parser.DecodeLayers(b, &decoded) != nil || len(decoded) < 2 {
			return reply{}, false
		}
		if icmp.TypeCode.Type() != layers.ICMPv4TypeDestinationUnreachable {
			return reply{}, false
		}
		target, ok := quotedSYN(r.key, r.src, icmp.Payload)
		if !ok {
			return reply{}, false
		}
		router, _ := netip.AddrFromSlice(ip4.SrcIP)
		return reply{from: target, kind: replyUnreach,
			detail: fmt.Sprintf("icmp %s from %v", unreachText(icmp.TypeCode.Code()), router)}, true
	}
}

// quotedSYN checks the IP header and first 8 TCP bytes an ICMP error quotes.
func quotedSYN(key cookieKey, src netip.AddrPort, q []byte) (netip.AddrPort, bool) {
	if len(q) < 20 || q[0]>>4 != 4 {
		return netip.AddrPort{}, false
	}
	ihl := int(q[0]&0xf) * 4
	if ihl < 20 || len(q) < ihl+8 || q[9] != byte(layers.IPProtocolTCP) {
		return netip.AddrPort{}, false
	}
	if netip.AddrFrom4([4]byte(q[12:16])) != src.Addr() {
		return netip.AddrPort{}, false
	}
	t := q[ihl:]
	if uint16(t[0])<<8|uint16(t[1]) != src.Port() {
		return netip.AddrPort{}, false
	}
	target := netip.AddrPortFrom(netip.AddrFrom4([4]byte(q[16:20])), uint16(t[2])<<8|uint16(t[3]))
	seq := uint32(t[4])<<24 | uint32(t[5])<<16 | uint32(t[6])<<8 | uint32(t[7])
	if seq != key.cookie(src, target) {
		return netip.AddrPort{}, false
	}
	return target, true
}

func unreachText(code uint8) string {
	switch code {
	case layers.ICMPv4CodeNet:
		return "network unreachable"
	case layers.ICMPv4CodeHost:
		return "host unreachable"
	case layers.ICMPv4CodeProtocol:
		return "protocol unreachable"
	case layers.ICMPv4CodePort:
		return "port unreachable"
	case layers.ICMPv4CodeNetAdminProhibited, layers.ICMPv4CodeHostAdminProhibited, layers.ICMPv4CodeCommAdminProhibited:
		return "administratively prohibited"
	}
	return "destination unreachable (code " + strconv.Itoa(int(code)) + ")"
}

func (r *rawIO) close() {
	if r.tcpRx != nil && r.icmpRx != nil {
		r.stopReceive()
	} else {
		if r.tcpRx != nil {
			r.tcpRx.Close()
		}
		if r.icmpRx != nil {
			r.icmpRx.Close()
		}
	}
	if r.sendFD >= 0 {
		unix.Close(r.sendFD)
	}
	if r.reserve >= 0 {
		unix.Close(r.reserve)
	}
}
