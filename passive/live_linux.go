//go:build linux

package passive

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"redsweep/store"
)

// ErrNeedRawSocket is returned (wrapped) when the kernel refuses a packet socket.
var ErrNeedRawSocket = errors.New("sniffing needs root or CAP_NET_RAW")

// Live sniffs iface for d (or until ctx ends when d <= 0) and returns what it
// found, like ReadCapture. It uses a Linux AF_PACKET socket directly (no
// libpcap, no cgo). On loopback it drops the kernel's outgoing copy of each
// frame, as libpcap does, so every packet is seen once.
func Live(ctx context.Context, iface string, d time.Duration, opt CaptureOptions) (CaptureStats, []store.Evidence, error) {
	opt.defaults()
	st := CaptureStats{File: iface, Format: "live", ByCode: map[string]int64{}}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	s, err := openPacketSocket(iface)
	if err != nil {
		return st, nil, err
	}
	defer s.close()
	st.LinkType = layers.LinkTypeEthernet.String()
	e := newEngine(iface, opt, &st)
	err = s.each(ctx, func(frame []byte, ts time.Time, lt layers.LinkType) {
		e.packet(frame, ts, lt)
	})
	ev := e.finish()
	if err != nil {
		return st, ev, fmt.Errorf("sniff %s: after packet %d: %w", iface, st.Packets, err)
	}
	return st, ev, nil
}

// packetSocket is a bound AF_PACKET/SOCK_RAW socket on one interface.
type packetSocket struct {
	fd       int
	iface    string
	loopback bool
	buf      []byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openPacketSocket(iface string) (*packetSocket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("sniff %s: %w", iface, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("sniff %s: %w (%v)", iface, ErrNeedRawSocket, err)
		}
		return nil, fmt.Errorf("sniff %s: packet socket: %w", iface, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sniff %s: bind: %w", iface, err)
	}
	// A receive timeout lets the loop notice ctx without a second goroutine.
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sniff %s: SO_RCVTIMEO: %w", iface, err)
	}
	return &packetSocket{fd: fd, iface: iface, loopback: ifi.Flags&net.FlagLoopback != 0, buf: make([]byte, 256<<10)}, nil
}

func (s *packetSocket) close() error { return unix.Close(s.fd) }

// each calls fn for every frame until ctx ends. The frame is only valid
// during the call.
func (s *packetSocket) each(ctx context.Context, fn func(frame []byte, ts time.Time, lt layers.LinkType)) error {
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		ts := time.Now()
		sll, ok := from.(*unix.SockaddrLinklayer)
		if !ok {
			continue
		}
		if s.loopback && sll.Pkttype == unix.PACKET_OUTGOING {
			continue // loopback delivers each frame twice: out and in
		}
		lt := layers.LinkTypeEthernet
		if sll.Hatype == unix.ARPHRD_NONE || sll.Hatype == unix.ARPHRD_IPGRE || sll.Hatype == unix.ARPHRD_TUNNEL || sll.Hatype == unix.ARPHRD_TUNNEL6 {
			lt = layers.LinkTypeRaw
		}
		fn(s.buf[:n], ts, lt)
	}
	return nil
}
