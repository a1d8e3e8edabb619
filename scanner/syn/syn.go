// Package syn is redsweep's stateless SYN discovery: a scanner.Discoverer
// that sends one TCP SYN per target (plus spaced retries) from a raw socket
// and classifies targets by their answer, without a connection per target.
//
// Packets are serialised once with gopacket into a template; each SYN is a
// copy with the destination, sequence number and checksums patched in. The
// sequence number is a keyed SipHash cookie of the four-tuple, so a SYN-ACK
// or RST is genuine only if its ack is cookie+1 (an ICMP error must quote
// the cookie): replies are validated without remembering what was sent.
//
// What is remembered is bounded by the rate, not the range: the targets in
// flight (sent, not yet answered or timed out), at most Rate × (Retries ×
// RetryDelay + Cooldown) entries of a few dozen bytes, the set-aside queue
// for busy /24s (at most 4096 new targets, plus due retries), and the /24s
// touched in the last 1/SubnetRate.
//
// The retry delay and the cool-down adapt to the round trips measured
// during the sweep, between a floor and a ceiling (see rtt.go).
//
// # Coexisting with the HTTP phase
//
// Our SYNs leave from one fixed source port (DefaultSourcePort, outside the
// kernel's ephemeral range, which Discover checks, and bound for the sweep
// so nothing else takes it). The kernel has no socket for that port, so it
// answers every SYN-ACK with a RST; that closes the half-open connection on
// the target, which is harmless and polite. The probe stage then connects
// normally with a kernel-chosen ephemeral port: a different four-tuple, so
// neither the scanner's cookies nor the kernel's RSTs touch it. Suppressing
// the kernel's RST (nft output: tcp sport <port> tcp flags & rst == rst drop) is
// possible but not needed.
//
// Replies are read from raw IPv4 sockets (protocols TCP and ICMP), which get
// a copy of every such packet for our address after the kernel's input
// firewall; a BPF filter keeps only packets to our source port (TCP) or
// destination-unreachable errors (ICMP).
package syn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"time"

	"redsweep/scanner"
)

// Defaults.
const (
	// DefaultRate is the global SYN rate (packets per second, retries
	// included) when Rate is 0.
	DefaultRate = 10000
	// DefaultSubnetRate is the SYNs per second any one /24 receives at most
	// when SubnetRate is 0: 100/s is invisible to a customer's router, and
	// a random order over a /16 at DefaultRate averages 39/s per /24.
	DefaultSubnetRate = 100
	// DefaultRetries is how many extra SYNs a silent target gets.
	DefaultRetries = 1
	// DefaultRetryDelay is the longest wait after a SYN before retrying,
	// and the wait used until round trips are measured: far above any
	// customer's round trip, so a retry is only sent for a loss.
	DefaultRetryDelay = time.Second
	// DefaultMinRetryDelay is the shortest: once round trips are known the
	// delay is 3 × their 99th percentile, but not below this. 250 ms is
	// about ten times the 20-30 ms round trips of the benchmark network and
	// above TCP's own minimum retransmission timeout (200 ms). An early
	// retry costs one packet inside the rate budget, and an answer to the
	// first SYN still counts.
	DefaultMinRetryDelay = 250 * time.Millisecond
	// DefaultCooldown is the wait for an answer after a target's last SYN
	// while the sweep is still sending, and the longest final cool-down
	// (the wait after the sweep's final packet), used until round trips
	// are measured. 1.5 s (it was 1 s) also catches a host's own
	// retransmission of a lost SYN-ACK, which Linux sends 1 s after the
	// first (on the benchmark network, 0.5 % loss each way, about 1 % of
	// open hosts answer only a second SYN, and with one retry a sweep of
	// 2,000 open hosts misses one now and then; every extra chance counts).
	// While the sweep sends, the longer wait costs memory only; at the end
	// the adapted cool-down applies.
	DefaultCooldown = 1500 * time.Millisecond
	// DefaultMinCooldown is the shortest final cool-down once round trips
	// are known (3 × their 99th percentile otherwise). It is twice the
	// minimum retry delay because a reply after it is lost for good: with
	// both floors the last targets' first SYNs are waited on for 750 ms.
	// Measured on the benchmark network (20 ms round trip, 0.5 % loss each
	// way, /16 at 10,000 pps, discovery alone): 9.99 s with the fixed 1 s
	// retry delay and cool-down, 8.96 s with these floors.
	DefaultMinCooldown = 500 * time.Millisecond
	// DefaultSourcePort is above Linux's default ephemeral range
	// (32768-60999), so kernel connections never share it.
	DefaultSourcePort = 61234
)

// Scanner is a SYN discovery. Zero values take the defaults. A Scanner may
// run one Discover at a time (its source port is reserved while it runs).
type Scanner struct {
	Rate       int           // SYNs per second, evenly spaced; 0 = DefaultRate
	SubnetRate int           // SYNs per second per /24; 0 = DefaultSubnetRate, <0 = unlimited
	Retries    int           // extra SYNs to silent targets; 0 = DefaultRetries, <0 = none
	RetryDelay time.Duration // longest wait between a target's SYNs; 0 = DefaultRetryDelay
	Cooldown   time.Duration // wait after a target's last SYN, and the longest final cool-down; 0 = DefaultCooldown
	// Floors of the adaptive retry delay and cool-down; 0 = the defaults,
	// capped at RetryDelay and Cooldown (equal values fix the timing).
	MinRetryDelay time.Duration
	MinCooldown   time.Duration
	SourcePort    uint16 // 0 = DefaultSourcePort; must be outside the ephemeral range
	// Source is the address to send from; zero: the kernel's choice for the
	// first target (its routing table, learnt with a UDP connect that sends
	// nothing). Every packet is routed by the kernel.
	Source netip.Addr
}

// Available reports whether this process may open raw sockets (root or
// CAP_NET_RAW). When it returns an error, use connect discovery.
func Available() error {
	return probeRaw()
}

// Discover implements scanner.Discoverer. Setup errors (no raw socket, no
// route to the first target, source port taken) are returned before any
// packet is sent. IPv6 targets get an error Hit: use connect discovery.
func (s *Scanner) Discover(ctx context.Context, targets iter.Seq[netip.AddrPort], out chan<- scanner.Hit) error {
	next, stop := iter.Pull(targets)
	defer stop()
	var first []netip.AddrPort
	src := s.Source
	for !src.IsValid() {
		t, ok := next()
		if !ok {
			break
		}
		first = append(first, t)
		if t.Addr().Is4() {
			a, err := sourceFor(t)
			if err != nil {
				return err
			}
			src = a
		}
	}
	if !src.IsValid() && len(first) == 0 {
		return nil // no target at all
	}
	port := s.SourcePort
	if port == 0 {
		port = DefaultSourcePort
	}
	var key cookieKey
	if src.IsValid() {
		var k [16]byte
		if _, err := rand.Read(k[:]); err != nil {
			return fmt.Errorf("syn: cookie key: %w", err)
		}
		key = cookieKey{binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])}
	}
	e := s.engine(out)
	e.next = func() (netip.AddrPort, bool) {
		if len(first) > 0 {
			t := first[0]
			first = first[1:]
			return t, true
		}
		return next()
	}
	if !src.IsValid() {
		// Only IPv6 targets: nothing to send, each gets its error Hit.
		e.clk = &realClock{}
		e.send = func(netip.AddrPort) error { return nil }
		return e.run(ctx)
	}
	io, err := openRaw(netip.AddrPortFrom(src, port), key)
	if err != nil {
		return err
	}
	defer io.close()
	replies := make(chan reply, 4096)
	rxDone := io.receive(replies)
	defer func() { io.stopReceive(); <-rxDone }()
	e.clk, e.send, e.replies = &realClock{}, io.send, replies
	return e.run(ctx)
}

func (s *Scanner) engine(out chan<- scanner.Hit) *engine {
	rate := s.Rate
	if rate <= 0 {
		rate = DefaultRate
	}
	e := &engine{interval: time.Second / time.Duration(rate), out: out}
	switch {
	case s.SubnetRate == 0:
		e.subnetGap = time.Second / DefaultSubnetRate
	case s.SubnetRate > 0:
		e.subnetGap = time.Second / time.Duration(s.SubnetRate)
	}
	switch {
	case s.Retries == 0:
		e.retries = DefaultRetries
	case s.Retries > 0:
		e.retries = s.Retries
	}
	e.maxRetry = cmp(s.RetryDelay, DefaultRetryDelay)
	e.minRetry = min(cmp(s.MinRetryDelay, DefaultMinRetryDelay), e.maxRetry)
	e.maxCool = cmp(s.Cooldown, DefaultCooldown)
	e.minCool = min(cmp(s.MinCooldown, DefaultMinCooldown), e.maxCool)
	// Until round trips are measured: the ceilings (see rtt.go).
	e.retryDelay, e.cooldown = e.maxRetry, e.maxCool
	return e
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// sourceFor is the address the kernel would send from to reach t. A UDP
// "connect" only consults the routing table; nothing goes on the wire.
func sourceFor(t netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(t))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("syn: no route to %v: %w", t.Addr(), err)
	}
	defer c.Close()
	la, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return netip.Addr{}, errors.New("syn: no local address for the route")
	}
	a, _ := netip.AddrFromSlice(la.IP)
	return a.Unmap(), nil
}

// realClock waits on a reused timer (Go 1.23+ timers drop a stale tick on
// Reset, so no draining is needed).
type realClock struct{ t *time.Timer }

func (*realClock) Now() time.Time { return time.Now() }

func (c *realClock) Wait(ctx context.Context, until time.Time, replies <-chan reply) (reply, bool) {
	d := time.Until(until)
	if d <= 0 {
		return reply{}, false
	}
	if c.t == nil {
		c.t = time.NewTimer(d)
	} else {
		c.t.Reset(d)
	}
	defer c.t.Stop()
	select {
	case r := <-replies:
		return r, true
	case <-c.t.C:
	case <-ctx.Done():
	}
	return reply{}, false
}
