package scanner

import (
	"context"
	"iter"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"redsweep/triage"
)

// Run sweeps targets × opts.Ports. Every target port gets exactly one Result,
// delivered to sink from the calling goroutine (sink needs no locking), in
// completion order. Out-of-scope targets are reported, never dialled.
//
// When ctx is cancelled Run stops dispatching, aborts the hosts in flight
// (their results are not delivered: they are unfinished, and a resumed sweep
// probes them again), delivers everything finished, and returns ctx.Err()
// once every goroutine and socket it started is gone.
func Run(ctx context.Context, opts Options, targets iter.Seq[netip.Addr], sink func(Result)) (Stats, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	st := Stats{ByStatus: map[string]int64{}, Verdicts: map[string]int64{}, Started: time.Now()}
	opts.Counters.Started.Store(st.Started.UnixNano())

	results := make(chan Result, 256)
	// Buffered so discovery rarely waits on a hand-off; slots still bound it.
	hits := make(chan Hit, opts.Concurrency)

	// Stage 1: scope gate and discovery. Out-of-scope targets become results
	// here, so a Discoverer only ever sees what may be dialled.
	inScope := func(yield func(netip.AddrPort) bool) {
		for a := range targets {
			if ctx.Err() != nil {
				return
			}
			scopeErr := opts.Scope.Check(a)
			for _, p := range opts.Ports {
				if scopeErr != nil {
					r := Result{Addr: a.Unmap(), Port: p, Status: StatusOutOfScope, Err: scopeErr.Error(), Started: time.Now()}
					select {
					case results <- r:
					case <-ctx.Done():
						return
					}
					continue
				}
				if !yield(netip.AddrPortFrom(a.Unmap(), p)) {
					return
				}
			}
		}
	}
	var discErr error
	discDone := make(chan struct{})
	go func() {
		defer close(discDone)
		defer close(hits)
		discErr = opts.Discoverer.Discover(ctx, inScope, hits)
	}()

	// Stage 2: probes, one worker per concurrency slot.
	pr := &prober{opts: opts}
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hits {
				r, ok := pr.host(ctx, h)
				if h.Release != nil {
					h.Release()
				}
				if ok {
					results <- r
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		<-discDone
		close(results)
	}()

	for r := range results {
		st.Results++
		st.ByStatus[r.Status]++
		st.Verdicts[r.Verdict.String()]++
		c := opts.Counters
		if r.Status != StatusOutOfScope && r.Status != StatusRefused && r.Status != StatusTimeout &&
			r.Status != StatusUnreachable && r.Status != StatusError {
			st.Open++
			c.Open.Add(1)
		}
		if r.Verdict >= triage.IIS {
			c.FoundIIS.Add(1)
		}
		if r.Verdict >= triage.Vulnerable {
			c.FoundFlagged.Add(1)
		}
		sink(r)
		c.Done.Add(1)
	}
	st.Duration = time.Since(st.Started)
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	return st, discErr
}

// prober runs the probe list on one open host:port.
type prober struct {
	opts Options
}

// host turns one Hit into a Result; ok is false when the sweep was
// cancelled before the host was finished.
func (p *prober) host(ctx context.Context, h Hit) (Result, bool) {
	r := Result{Addr: h.Target.Addr(), Port: h.Target.Port(), Status: h.Status, Err: h.Err, Started: h.Started}
	if h.Status != StatusSuccess {
		r.Duration = h.Duration
		return r, ctx.Err() == nil
	}
	conn := h.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	if p.opts.DiscoveryOnly {
		r.Duration = h.Duration
		return r, true
	}
	// The host deadline runs from the moment probing starts, so time spent
	// queued behind other hosts is not charged to this one.
	hostDeadline := time.Now().Add(p.opts.HostTimeout)
	hctx, cancel := context.WithDeadline(ctx, hostDeadline)
	defer cancel()
	hostHdr := hostHeader(h.Target)

	rootDone := false
	for _, pb := range p.opts.Probes {
		if pb.Intrusive() && !p.opts.Confirm {
			continue
		}
		if !pb.Wanted(r.Exchanges) {
			continue
		}
		if ctx.Err() != nil {
			return r, false
		}
		req := pb.Request(hostHdr)
		if hctx.Err() != nil {
			r.Exchanges = append(r.Exchanges, triage.Exchange{Probe: pb.Name(), Path: requestPath(req), Err: "not sent: host deadline reached", At: time.Now()})
			continue
		}
		c := conn
		conn = nil
		if c == nil {
			var err error
			c, err = dialHedged(hctx, p.opts.Dial, h.Target.String(), p.opts.Timeout, hedgeDelay(h.Duration))
			if err != nil {
				if ctx.Err() != nil {
					return r, false
				}
				r.Exchanges = append(r.Exchanges, triage.Exchange{Probe: pb.Name(), Path: requestPath(req), Err: "dial: " + err.Error(), At: time.Now()})
				if !rootDone {
					r.Status, r.Err = classifyDial(err), err.Error()
					break
				}
				continue
			}
		}
		deadline := time.Now().Add(p.opts.Timeout)
		if hostDeadline.Before(deadline) {
			deadline = hostDeadline
		}
		ex, out := exchange(ctx, c, pb.Name(), req, deadline, p.opts.ReadCap)
		if out.why == endAborted {
			return r, false
		}
		r.Exchanges = append(r.Exchanges, ex)
		if !rootDone {
			rootDone = true
			r.Status, r.Err, r.Print = hostStatus(ex, out), ex.Err, ex.Print
			if r.Status != StatusSuccess {
				// Not an HTTP server (or not in time): no further probe
				// would learn anything, and a hostile one costs a timeout each.
				break
			}
		}
	}
	r.Verdict, r.Findings = triage.Judge(r.Exchanges)
	r.Duration = time.Since(r.Started)
	return r, true
}

// Hedged dials. Discovery has just seen the host answer, so a connection
// that is not up after a few round trips almost surely lost its SYN or
// SYN-ACK, and the kernel's next SYN comes only after its initial
// retransmission timeout of 1 s (RFC 6298): a lossy link turned a 50 ms
// probe into a 1 s one, and with a 1.5 s timeout a second loss made an open
// host look dead (seen on the benchmark network at 0.5 % loss each way: an
// open host reported as "dial: i/o timeout" in one of three /16 sweeps, and
// the last probes of a sweep ending up to a second after discovery). So when the dial is still pending after
// hedgeDelay, a second dial starts beside it (a new source port, so a new
// SYN); the first connection up wins and the other is closed. A host thus
// gets at most four SYNs in the timeout (two per dial) instead of two;
// nothing changes for hosts that answer.
const (
	hedgeMin = 200 * time.Millisecond // TCP's own minimum retransmission timeout
	hedgeMax = 500 * time.Millisecond
)

// hedgeDelay is when to start the second dial: four round trips as
// discovery measured them (rtt; 0 when unknown), within [hedgeMin, hedgeMax].
func hedgeDelay(rtt time.Duration) time.Duration {
	return min(max(4*rtt, hedgeMin), hedgeMax)
}

// dialHedged dials addr within timeout, starting a second dial when the
// first is still pending after hedge (see hedgeDelay). It returns the first
// connection up, or the first dial's error once every dial has failed; it
// leaves no dial and no connection behind.
func dialHedged(ctx context.Context, dial DialFunc, addr string, timeout, hedge time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if hedge <= 0 || hedge >= timeout {
		return dial(ctx, "tcp", addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, 2)
	start := func() {
		go func() {
			c, err := dial(ctx, "tcp", addr)
			results <- result{c, err}
		}()
	}
	start()
	pending := 1
	hedgeTimer := time.NewTimer(hedge)
	defer hedgeTimer.Stop()
	var firstErr error
	for {
		select {
		case <-hedgeTimer.C:
			start()
			pending++
		case r := <-results:
			pending--
			if r.err == nil {
				cancel() // the other dial, if any, gives up at once
				for ; pending > 0; pending-- {
					if o := <-results; o.c != nil {
						o.c.Close()
					}
				}
				return r.c, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
			// Every dial has failed. A refusal before the hedge is an
			// answer, so no second dial is started for it.
			if pending == 0 {
				return nil, firstErr
			}
		}
	}
}

// hostHeader is the Host header value: the address, with the port when it
// is not 80.
func hostHeader(t netip.AddrPort) string {
	a := t.Addr().String()
	if t.Addr().Is6() {
		a = "[" + a + "]"
	}
	if t.Port() == 80 {
		return a
	}
	return net.JoinHostPort(t.Addr().String(), strconv.Itoa(int(t.Port())))
}
