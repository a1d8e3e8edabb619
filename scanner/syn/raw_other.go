//go:build !linux

package syn

import (
	"errors"
	"net/netip"
)

var errNotLinux = errors.New("syn: SYN discovery needs Linux raw sockets; use connect discovery")

func probeRaw() error { return errNotLinux }

// rawIO exists so the package builds elsewhere; openRaw always fails.
type rawIO struct{}

func openRaw(netip.AddrPort, cookieKey) (*rawIO, error) { return nil, errNotLinux }
func (*rawIO) send(netip.AddrPort) error                { return errNotLinux }
func (*rawIO) receive(chan<- reply) <-chan struct{}     { return nil }
func (*rawIO) stopReceive()                             {}
func (*rawIO) close()                                   {}
