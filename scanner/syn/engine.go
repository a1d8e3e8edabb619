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

// flight is a target awaiting an answer.
type flight struct {
	id       uint64
	started  time.Time
	attempts int
	copies   int // the same target given more than once gets one Hit per copy
}

// due is a queue entry: act on flight id for target at when.
type due struct {
	target netip.AddrPort
	id     uint64
	when   time.Time
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
	interval   time.Duration // between any two SYNs
	subnetGap  time.Duration // between two SYNs to one /24; 0 = no limit
	retries    int
	retryDelay time.Duration
	cooldown   time.Duration
	clk        clock
	send       func(dst netip.AddrPort) error
	replies    <-chan reply
	out        chan<- scanner.Hit

	flights  map[netip.AddrPort]*flight
	spare    []*flight // finished flights for reuse: no allocation per target
	nextID   uint64
	retryQ   fifo[due] // sent, awaiting an answer or a retry; ordered by when
	finalQ   fifo[due] // last SYN sent, awaiting an answer or the timeout
	deferred deferred
	subnets  map[uint32]time.Time // /24 → earliest next send (GCRA, burst 1)
	pruned   time.Time

	timeoutMsg string

	next      func() (netip.AddrPort, bool)
	exhausted bool
}

func (e *engine) run(ctx context.Context) error {
	e.flights = map[netip.AddrPort]*flight{}
	e.subnets = map[uint32]time.Time{}
	e.timeoutMsg = fmt.Sprintf("no reply to %d SYNs", e.retries+1) // every timeout had them all
	e.deferred.byNet = map[uint32]*fifo[netip.AddrPort]{}
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
			dst, f, ok := e.pick(now)
			if !ok {
				// Nothing to send: do not bank the idle time as credit.
				slot = now
				break
			}
			if err := e.transmit(ctx, dst, f, now); err != nil {
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
		earliest(e.finalQ.peek().when)
	}
	if e.retryQ.len() > 0 {
		d := e.retryQ.peek()
		earliest(later(later(d.when, slot), e.subnetFree(d.target)))
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
// evenly spaced), then a set-aside target whose /24 is free again, then a
// new target. f is nil for a new target.
func (e *engine) pick(now time.Time) (netip.AddrPort, *flight, bool) {
	for e.retryQ.len() > 0 && !e.retryQ.peek().when.After(now) {
		d := *e.retryQ.peek() // a copy: pop clears the slot
		f := e.flights[d.target]
		if f == nil || f.id != d.id {
			e.retryQ.pop() // answered already
			continue
		}
		if e.subnetFree(d.target).After(now) {
			break // its /24 is busy: send something else meanwhile
		}
		e.retryQ.pop()
		return d.target, f, true
	}
	if e.deferred.len() > 0 && !e.deferred.nextFree().After(now) {
		return e.deferred.pop(), nil, true
	}
	for !e.exhausted && e.deferred.len() < deferCap {
		t, ok := e.next()
		if !ok {
			e.exhausted = true
			break
		}
		if free := e.subnetFree(t); free.After(now) {
			e.deferred.push(t, free)
			continue
		}
		return t, nil, true
	}
	return netip.AddrPort{}, nil, false
}

// transmit sends one SYN and queues what happens next for the target.
func (e *engine) transmit(ctx context.Context, dst netip.AddrPort, f *flight, now time.Time) error {
	if f == nil {
		if g := e.flights[dst]; g != nil {
			g.copies++ // already in flight: share its answer
			return nil
		}
		e.nextID++
		if k := len(e.spare); k > 0 {
			f, e.spare = e.spare[k-1], e.spare[:k-1]
		} else {
			f = new(flight)
		}
		*f = flight{id: e.nextID, started: now, copies: 1}
		e.flights[dst] = f
	}
	if !dst.Addr().Is4() {
		return e.finish(ctx, dst, f, scanner.StatusError, "SYN discovery is IPv4 only", now)
	}
	f.attempts++
	if e.subnetGap > 0 {
		k := subnetKey(dst)
		e.subnets[k] = now.Add(e.subnetGap)
		e.deferred.sent(k, now.Add(e.subnetGap))
	}
	if err := e.send(dst); err != nil {
		switch {
		case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
			return e.finish(ctx, dst, f, scanner.StatusUnreachable, err.Error(), now)
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EINVAL):
			// A local firewall or a bad address: retrying would not help.
			return e.finish(ctx, dst, f, scanner.StatusError, err.Error(), now)
		}
		// ENOBUFS and the like: the packet is lost; the retry covers it.
	}
	if f.attempts <= e.retries {
		e.retryQ.push(due{dst, f.id, now.Add(e.retryDelay)})
	} else {
		e.finalQ.push(due{dst, f.id, now.Add(e.cooldown)})
	}
	return nil
}

// expire reports targets whose last SYN went unanswered for the cool-down.
func (e *engine) expire(ctx context.Context, now time.Time) error {
	for e.finalQ.len() > 0 && !e.finalQ.peek().when.After(now) {
		d := e.finalQ.pop()
		f := e.flights[d.target]
		if f == nil || f.id != d.id {
			continue
		}
		if err := e.finish(ctx, d.target, f, scanner.StatusTimeout, e.timeoutMsg, now); err != nil {
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
	f := e.flights[r.from]
	if f == nil {
		return nil
	}
	switch r.kind {
	case replyOpen:
		return e.finish(ctx, r.from, f, scanner.StatusSuccess, "", r.at)
	case replyClosed:
		return e.finish(ctx, r.from, f, scanner.StatusRefused, "connection refused (RST)", r.at)
	default:
		return e.finish(ctx, r.from, f, scanner.StatusUnreachable, r.detail, r.at)
	}
}

func (e *engine) finish(ctx context.Context, t netip.AddrPort, f *flight, status, msg string, at time.Time) error {
	delete(e.flights, t)
	h := scanner.Hit{Target: t, Status: status, Err: msg, Started: f.started, Duration: max(at.Sub(f.started), 0)}
	copies := f.copies
	e.spare = append(e.spare, f) // queue entries check the id, so reuse is safe
	for range copies {
		select {
		case e.out <- h:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// subnetFree is when t's /24 may get its next SYN.
func (e *engine) subnetFree(t netip.AddrPort) time.Time {
	if e.subnetGap <= 0 {
		return time.Time{}
	}
	return e.subnets[subnetKey(t)]
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

// deferred holds targets set aside because their /24 was busy: a queue per
// /24 and a heap of those /24s by when each is free again, so the sender
// always takes the /24 that frees up first (one FIFO would stall behind its
// head's /24 while others are free). At most deferCap targets.
type deferred struct {
	byNet map[uint32]*fifo[netip.AddrPort]
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

func (d *deferred) push(t netip.AddrPort, free time.Time) {
	k := subnetKey(t)
	q := d.byNet[k]
	if q == nil {
		q = &fifo[netip.AddrPort]{}
		d.byNet[k] = q
		d.heap = append(d.heap, netFree{k, free})
		d.up(len(d.heap) - 1)
	}
	q.push(t)
	d.n++
}

// pop takes a target from the /24 that is free first; the caller sends to
// it, and sent moves that /24 back in the heap.
func (d *deferred) pop() netip.AddrPort {
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
