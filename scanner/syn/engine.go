package syn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"redsweep/scanner"
)

// replyKind is what a validated reply says about a target.
type replyKind uint8

const (
	replyOpen    replyKind = iota + 1 // SYN-ACK
	replyClosed                       // RST
	replyUnreach                      // ICMP destination unreachable
)

// reply is a validated answer from the receiver.
type reply struct {
	from   netip.AddrPort
	kind   replyKind
	at     time.Time
	detail string // ICMP only: which error, from whom
}

// clock lets tests run the scheduler on virtual time.
type clock interface {
	Now() time.Time
	// Wait returns at until, when ctx is done, or early with a reply.
	Wait(ctx context.Context, until time.Time, replies <-chan reply) (reply, bool)
}

// maxLag bounds catch-up after the sender fell behind (timer slack is 1-2 ms
// here): at most this much time's packets leave back to back, so a stall
// never turns into a burst.
const maxLag = 10 * time.Millisecond

// deferCap bounds the targets set aside because their /24 is at its rate;
// beyond it the sender waits (the permutation makes that rare).
const deferCap = 4096

// The per-target state is kept small and free of pointers (the garbage
// collector need not scan it): at 100,000 SYNs per second with nothing
// answering, about 200,000 targets are in flight. Times are offsets from
// the engine's start (engine.epoch).

// tkey is an IPv4 target: address << 16 | port. Only IPv4 targets are ever
// in flight (IPv6 ones get their error Hit at once).
type tkey uint64

func keyOf(t netip.AddrPort) tkey {
	a := t.Addr().As4()
	return tkey(a[0])<<40 | tkey(a[1])<<32 | tkey(a[2])<<24 | tkey(a[3])<<16 | tkey(t.Port())
}

func (k tkey) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16)}), uint16(k))
}

// subnet is the target's /24.
func (k tkey) subnet() uint32 { return uint32(k >> 24) }

// flight is a target awaiting an answer.
type flight struct {
	id       uint64
	started  time.Duration // first SYN, since epoch
	attempts int32
	copies   int32 // the same target given more than once gets one Hit per copy
}

// due is a queue entry: flight id for target k, whose latest SYN left at
// sent (since epoch). The queues hold entries in the order they were sent;
// when an entry is due is decided on reading it, from the current retry
// delay or cool-down, which adapt to the measured round trips (all entries
// share the same delay at any moment, so sending order stays due order).
type due struct {
	k    tkey
	id   uint64 // 0: a new target, not yet in flight (set-aside queue only)
	sent time.Duration
}

// fifo is a queue whose memory is reused once drained.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) peek() *T { return &q.items[q.head] }
func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }
func (q *fifo[T]) pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	return v
}

// engine schedules SYNs and turns replies into Hits. It runs on one
// goroutine and owns all its state; memory grows with the targets in flight
// (Rate × (Retries×RetryDelay + Cooldown)), never with the range.
type engine struct {
	interval  time.Duration // between any two SYNs
	subnetGap time.Duration // between two SYNs to one /24; 0 = no limit
	retries   int
	// The retry delay and the sweep's final cool-down in force: the
	// ceilings until round trips are measured, then adapted (see adapt),
	// never outside [min, max]. maxCool is also every target's wait after
	// its last SYN while the sweep still has SYNs to send (see expire).
	retryDelay, minRetry, maxRetry time.Duration
	cooldown, minCool, maxCool     time.Duration
	rtt                            rttStats
	samples                        uint64
	clk                            clock
	send                           func(dst netip.AddrPort) error
	replies                        <-chan reply
	out                            chan<- scanner.Hit

	epoch    time.Time
	flights  map[tkey]flight
	nextID   uint64
	retryQ   fifo[due] // sent, awaiting an answer or a retry; in sending order
	finalQ   fifo[due] // last SYN sent, awaiting an answer or the timeout; in sending order
	deferred deferred
	subnets  map[uint32]time.Time // /24 → earliest next send (GCRA, burst 1)
	pruned   time.Time

	timeoutMsg string

	next      func() (netip.AddrPort, bool)
	exhausted bool
}

func (e *engine) run(ctx context.Context) error {
	e.epoch = e.clk.Now()
	e.flights = map[tkey]flight{}
	e.subnets = map[uint32]time.Time{}
	e.timeoutMsg = fmt.Sprintf("no reply to %d SYNs", e.retries+1) // every timeout had them all
	e.deferred.byNet = map[uint32]*fifo[due]{}
	slot := e.clk.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := e.clk.Now()
		if err := e.drain(ctx); err != nil {
			return err
		}
		if err := e.expire(ctx, now); err != nil {
			return err
		}
		if slot.Before(now.Add(-maxLag)) {
			slot = now.Add(-maxLag)
		}
		for !slot.After(now) {
			dst, retry, ok := e.pick(now)
			if !ok {
				// Nothing to send: do not bank the idle time as credit.
				slot = now
				break
			}
			if err := e.transmit(ctx, dst, retry, now); err != nil {
				return err
			}
			slot = slot.Add(e.interval)
		}
		if e.exhausted && len(e.flights) == 0 && e.deferred.len() == 0 {
			return nil
		}
		if now.Sub(e.pruned) > time.Second {
			e.prune(now)
		}
		if r, ok := e.clk.Wait(ctx, e.wake(slot, now), e.replies); ok {
			if err := e.answer(ctx, r); err != nil {
				return err
			}
		}
	}
}

// wake is when the loop next has something to do.
func (e *engine) wake(slot, now time.Time) time.Time {
	w := now.Add(time.Hour)
	earliest := func(t time.Time) {
		if t.Before(w) {
			w = t
		}
	}
	later := func(a, b time.Time) time.Time {
		if a.After(b) {
			return a
		}
		return b
	}
	if e.finalQ.len() > 0 {
		earliest(e.at(e.finalQ.peek().sent + e.finalWait()))
	}
	if e.retryQ.len() > 0 {
		// A due retry whose /24 is busy is set aside by pick, so the head
		// never holds up the queue behind it.
		earliest(later(e.at(e.retryQ.peek().sent+e.retryDelay), slot))
	}
	if e.deferred.len() > 0 {
		earliest(later(slot, e.deferred.nextFree()))
	}
	if !e.exhausted && e.deferred.len() < deferCap {
		earliest(slot)
	}
	return w
}

// pick chooses the next SYN: a due retry first (so a target's attempts stay
// evenly spaced), then a set-aside target or retry whose /24 is free again,
// then a new target. retry is false for a new target.
//
// A due retry whose /24 is busy joins the set-aside queue of that /24
// instead of blocking the retry queue: with a random order, the head's /24
// is busy about a third of the time at 10,000 pps and 100/s per /24, and a
// blocked head used to stall every retry behind it (measured: a /16 sweep
// took 12.5 s instead of 10).
func (e *engine) pick(now time.Time) (dst netip.AddrPort, retry, ok bool) {
	for e.retryQ.len() > 0 && !e.at(e.retryQ.peek().sent+e.retryDelay).After(now) {
		d := e.retryQ.pop()
		if !e.live(d) {
			continue // answered already
		}
		if free := e.subnetFree(d.k); free.After(now) {
			e.deferred.push(d, free) // its /24 is busy: send something else meanwhile
			continue
		}
		return d.k.addrPort(), true, true
	}
	for e.deferred.len() > 0 && !e.deferred.nextFree().After(now) {
		d := e.deferred.pop()
		if d.id == 0 {
			return d.k.addrPort(), false, true
		}
		if e.live(d) {
			return d.k.addrPort(), true, true
		}
		// A set-aside retry answered meanwhile: nothing to send.
	}
	for !e.exhausted && e.deferred.len() < deferCap {
		t, ok := e.next()
		if !ok {
			e.exhausted = true
			break
		}
		if !t.Addr().Is4() {
			return t, false, true // no packet: transmit gives it its error Hit
		}
		k := keyOf(t)
		if free := e.subnetFree(k); free.After(now) {
			e.deferred.push(due{k: k}, free)
			continue
		}
		return t, false, true
	}
	return netip.AddrPort{}, false, false
}

// live reports whether queue entry d is still the target's flight.
func (e *engine) live(d due) bool {
	f, ok := e.flights[d.k]
	return ok && f.id == d.id
}

// at is the time offset d since the engine started.
func (e *engine) at(d time.Duration) time.Time { return e.epoch.Add(d) }

// transmit sends one SYN and queues what happens next for the target.
func (e *engine) transmit(ctx context.Context, dst netip.AddrPort, retry bool, now time.Time) error {
	off := now.Sub(e.epoch)
	if !dst.Addr().Is4() {
		return e.emit(ctx, dst, flight{started: off, copies: 1}, scanner.StatusError, "SYN discovery is IPv4 only", now)
	}
	k := keyOf(dst)
	f, inFlight := e.flights[k]
	if !retry {
		if inFlight {
			f.copies++ // already in flight: share its answer
			e.flights[k] = f
			return nil
		}
		e.nextID++
		f = flight{id: e.nextID, started: off, copies: 1}
	}
	f.attempts++
	e.flights[k] = f
	err := e.send(dst)
	if e.subnetGap > 0 {
		// From the moment the packet left, not from now (the loop's start):
		// a SYN sent late in a catch-up batch must not let the /24's next
		// one follow it closer than the gap (seen on the wire: 6 ms apart
		// at 100/s per /24 when timed from now).
		free := e.clk.Now().Add(e.subnetGap)
		e.subnets[k.subnet()] = free
		e.deferred.sent(k.subnet(), free)
	}
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
			return e.finish(ctx, k, f, scanner.StatusUnreachable, err.Error(), now)
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EINVAL):
			// A local firewall or a bad address: retrying would not help.
			return e.finish(ctx, k, f, scanner.StatusError, err.Error(), now)
		}
		// ENOBUFS and the like: the packet is lost; the retry covers it.
	}
	if int(f.attempts) <= e.retries {
		e.retryQ.push(due{k, f.id, off})
	} else {
		e.finalQ.push(due{k, f.id, off})
	}
	return nil
}

// finalWait is how long a target is waited on after its last SYN. While
// the sweep still sends, waiting costs only memory, so every target gets the
// full Cooldown (which also lets a host's own SYN-ACK retransmission, 1 s
// after a lost one on Linux, count). Once nothing is left to send, the wait
// decides when the sweep ends: the adapted cool-down applies.
func (e *engine) finalWait() time.Duration {
	if e.exhausted && e.retryQ.len() == 0 && e.deferred.len() == 0 {
		return e.cooldown
	}
	return e.maxCool
}

// expire reports targets whose last SYN went unanswered for finalWait.
func (e *engine) expire(ctx context.Context, now time.Time) error {
	wait := e.finalWait()
	for e.finalQ.len() > 0 && !e.at(e.finalQ.peek().sent+wait).After(now) {
		d := e.finalQ.pop()
		f, ok := e.flights[d.k]
		if !ok || f.id != d.id {
			continue
		}
		if err := e.finish(ctx, d.k, f, scanner.StatusTimeout, e.timeoutMsg, now); err != nil {
			return err
		}
	}
	return nil
}

// drain handles every reply already waiting, without blocking.
func (e *engine) drain(ctx context.Context) error {
	for {
		select {
		case r := <-e.replies:
			if err := e.answer(ctx, r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// answer turns a validated reply into the target's Hit. Replies for targets
// not in flight (duplicates, answers to a retry, stragglers after the
// timeout) are dropped: every target gets exactly one Hit.
func (e *engine) answer(ctx context.Context, r reply) error {
	if !r.from.Addr().Is4() {
		return nil
	}
	k := keyOf(r.from)
	f, ok := e.flights[k]
	if !ok {
		return nil
	}
	if f.attempts == 1 {
		// Only a target with one SYN out gives an unambiguous round trip
		// (Karn's rule); a reply after a retry may answer either SYN.
		e.sample(r.at.Sub(e.at(f.started)))
	}
	switch r.kind {
	case replyOpen:
		return e.finish(ctx, k, f, scanner.StatusSuccess, "", r.at)
	case replyClosed:
		return e.finish(ctx, k, f, scanner.StatusRefused, "connection refused (RST)", r.at)
	default:
		return e.finish(ctx, k, f, scanner.StatusUnreachable, r.detail, r.at)
	}
}

// finish ends target k's flight with a Hit per copy. Queue entries check
// the flight's id, so entries left behind are skipped.
func (e *engine) finish(ctx context.Context, k tkey, f flight, status, msg string, at time.Time) error {
	delete(e.flights, k)
	return e.emit(ctx, k.addrPort(), f, status, msg, at)
}

func (e *engine) emit(ctx context.Context, t netip.AddrPort, f flight, status, msg string, at time.Time) error {
	started := e.at(f.started)
	h := scanner.Hit{Target: t, Status: status, Err: msg, Started: started, Duration: max(at.Sub(started), 0)}
	for range f.copies {
		select {
		case e.out <- h:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// subnetFree is when k's /24 may get its next SYN.
func (e *engine) subnetFree(k tkey) time.Time {
	if e.subnetGap <= 0 {
		return time.Time{}
	}
	return e.subnets[k.subnet()]
}

// prune forgets /24s whose gap has passed: they are free again either way,
// so the table holds only the /24s touched in the last gap.
func (e *engine) prune(now time.Time) {
	for k, t := range e.subnets {
		if !t.After(now) {
			delete(e.subnets, k)
		}
	}
	e.pruned = now
}

func subnetKey(t netip.AddrPort) uint32 {
	if !t.Addr().Is4() {
		return 0
	}
	a := t.Addr().As4()
	return uint32(a[0])<<16 | uint32(a[1])<<8 | uint32(a[2])
}

// deferred holds targets (new ones, and due retries) set aside because their
// /24 was busy: a queue per /24 and a heap of those /24s by when each is
// free again, so the sender always takes the /24 that frees up first (one
// FIFO would stall behind its head's /24 while others are free). New
// targets stop being taken while it holds deferCap; retries always join
// (they are bounded by the targets in flight).
type deferred struct {
	byNet map[uint32]*fifo[due]
	heap  []netFree
	n     int
}

type netFree struct {
	key  uint32
	free time.Time
}

func (d *deferred) len() int { return d.n }

// nextFree is when the earliest set-aside /24 may be sent to.
func (d *deferred) nextFree() time.Time { return d.heap[0].free }

func (d *deferred) push(t due, free time.Time) {
	k := t.k.subnet()
	q := d.byNet[k]
	if q == nil {
		q = &fifo[due]{}
		d.byNet[k] = q
		d.heap = append(d.heap, netFree{k, free})
		d.up(len(d.heap) - 1)
	}
	q.push(t)
	d.n++
}

// pop takes a target from the /24 that is free first; the caller sends to
// it, and sent moves that /24 back in the heap.
func (d *deferred) pop() due {
	k := d.heap[0].key
	q := d.byNet[k]
	t := q.pop()
	d.n--
	if q.len() == 0 {
		delete(d.byNet, k)
		d.remove()
	}
	return t
}

// sent records that /24 k is busy until free.
func (d *deferred) sent(k uint32, free time.Time) {
	if _, ok := d.byNet[k]; !ok {
		return
	}
	for i := range d.heap { // usually i = 0: the /24 just popped; else a retry to a /24 with a backlog
		if d.heap[i].key == k {
			d.heap[i].free = free
			d.down(i)
			return
		}
	}
}

func (d *deferred) remove() {
	last := len(d.heap) - 1
	d.heap[0] = d.heap[last]
	d.heap = d.heap[:last]
	if last > 0 {
		d.down(0)
	}
}

func (d *deferred) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !d.heap[i].free.Before(d.heap[p].free) {
			return
		}
		d.heap[i], d.heap[p] = d.heap[p], d.heap[i]
		i = p
	}
}

func (d *deferred) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(d.heap) && d.heap[l].free.Before(d.heap[small].free) {
			small = l
		}
		if r := l + 1; r < len(d.heap) && d.heap[r].free.Before(d.heap[small].free) {
			small = r
		}
		if small == i {
			return
		}
		d.heap[i], d.heap[small] = d.heap[small], d.heap[i]
		i = small
	}
}
