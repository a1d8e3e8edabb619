package scanner

import (
	"context"
	"errors"
	"iter"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/projectdiscovery/ratelimit"
)

// Hit is discovery's verdict on one target port.
type Hit struct {
	Target   netip.AddrPort
	Status   string    // StatusSuccess when open, else why not
	Err      string    // dial error text, "" when open
	Started  time.Time // when the first packet for it was sent
	Duration time.Duration
	// Conn, when not nil, is the open connection, handed to the probe stage
	// for its first probe (a SYN discoverer leaves it nil; the prober dials).
	Conn net.Conn
	// Release, when not nil, is called by the probe stage once it is done
	// with the target, so discovery can bound the work in flight.
	Release func()
}

// Discoverer finds which target ports accept connections. It sends exactly
// one Hit per target it takes from targets (in any order), only to targets
// it was given (the scope gate runs before it), and returns once every Hit
// is sent or ctx is done. It never closes out.
type Discoverer interface {
	Discover(ctx context.Context, targets iter.Seq[netip.AddrPort], out chan<- Hit) error
}

// ConnectDiscoverer is a TCP connect scan: paced, bounded, with a deadline
// per dial. A target's concurrency slot is held until the probe stage
// releases it, so Concurrency bounds the whole pipeline's sockets.
type ConnectDiscoverer struct {
	Concurrency int
	Rate        int // new connections per second, 0 = unpaced
	Timeout     time.Duration
	Dial        DialFunc
}

// Discover implements Discoverer.
func (d *ConnectDiscoverer) Discover(ctx context.Context, targets iter.Seq[netip.AddrPort], out chan<- Hit) error {
	conc := max(d.Concurrency, 1)
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var limiter *ratelimit.Limiter
	if d.Rate > 0 {
		// The leaky bucket with burst 1 lets connections leave evenly; the
		// default limiter would release a whole second's allowance at once.
		limiter = ratelimit.NewLeakyBucket(ctx, 1, time.Second/time.Duration(d.Rate))
	}
	// A fixed pool of dialers: a goroutine per dial would pay for growing a
	// fresh stack through the dial path every time.
	sem := make(chan struct{}, conc)
	release := func() { <-sem }
	work := make(chan netip.AddrPort)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				h := dialOne(ctx, dial, t, timeout)
				if ctx.Err() != nil {
					// Cancelled: the target is unfinished, not closed; a
					// resumed sweep probes it again.
					if h.Conn != nil {
						h.Conn.Close()
					}
					release()
					continue
				}
				h.Release = release
				select {
				case out <- h:
				case <-ctx.Done():
					if h.Conn != nil {
						h.Conn.Close()
					}
					release()
				}
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	for t := range targets {
		// The slot is held from dial until the probe stage releases it.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if limiter != nil {
			limiter.Take()
		}
		if ctx.Err() != nil {
			release()
			return ctx.Err()
		}
		work <- t
	}
	return ctx.Err()
}

func dialOne(ctx context.Context, dial DialFunc, t netip.AddrPort, timeout time.Duration) Hit {
	h := Hit{Target: t, Started: time.Now()}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	conn, err := dial(dctx, "tcp", t.String())
	cancel()
	h.Duration = time.Since(h.Started)
	if err != nil {
		h.Status, h.Err = classifyDial(err), err.Error()
		return h
	}
	h.Status, h.Conn = StatusSuccess, conn
	return h
}

// classifyDial maps a dial error to a status.
func classifyDial(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return StatusRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return StatusUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return StatusTimeout
	}
	return StatusError
}
