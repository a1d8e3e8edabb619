package scanner

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestDialHedged: a dial still pending after the hedge delay gets a second
// dial beside it; the first connection up wins, the other is closed, and a
// refusal is final without a second dial.
func TestDialHedged(t *testing.T) {
	// A fake network: the first dial to the host is lost (it hangs until
	// its context ends); later ones connect over a pipe at once.
	type fake struct {
		mu    sync.Mutex
		calls int
	}
	newDial := func(f *fake, refuse bool) DialFunc {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			f.mu.Lock()
			f.calls++
			n := f.calls
			f.mu.Unlock()
			if refuse {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			if n == 1 {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			a, _ := net.Pipe()
			return a, nil
		}
	}

	f := &fake{}
	start := time.Now()
	c, err := dialHedged(context.Background(), newDial(f, false), "192.0.2.1:80", 2*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("hedged dial: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Errorf("connected after %v, want just after the 50 ms hedge", d)
	}
	if f.calls != 2 {
		t.Errorf("%d dials, want 2", f.calls)
	}
	c.Close()

	f = &fake{}
	_, err = dialHedged(context.Background(), newDial(f, true), "192.0.2.1:80", 2*time.Second, 50*time.Millisecond)
	if !errors.Is(err, syscall.ECONNREFUSED) || classifyDial(err) != StatusRefused {
		t.Errorf("refused host: %v, want ECONNREFUSED", err)
	}
	if f.calls != 1 {
		t.Errorf("refused host: %d dials, want 1 (a refusal is an answer)", f.calls)
	}

	// Both lost: the deadline's error, classified as a timeout.
	var calls atomic.Int32
	hang := func(ctx context.Context, network, addr string) (net.Conn, error) {
		calls.Add(1)
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	start = time.Now()
	_, err = dialHedged(context.Background(), hang, "192.0.2.1:80", 200*time.Millisecond, 50*time.Millisecond)
	if classifyDial(err) != StatusTimeout {
		t.Errorf("filtered host: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > time.Second {
		t.Errorf("filtered host: gave up after %v, want the 200 ms timeout", d)
	}
	if calls.Load() != 2 {
		t.Errorf("filtered host: %d dials, want 2", calls.Load())
	}

	if got := hedgeDelay(0); got != hedgeMin {
		t.Errorf("hedgeDelay(unknown) = %v, want %v", got, hedgeMin)
	}
	if got := hedgeDelay(100 * time.Millisecond); got != 400*time.Millisecond {
		t.Errorf("hedgeDelay(100ms) = %v, want 400ms", got)
	}
	if got := hedgeDelay(time.Second); got != hedgeMax {
		t.Errorf("hedgeDelay(1s) = %v, want %v", got, hedgeMax)
	}
}

// TestDialHedgedClosesTheLoser: when both dials connect, the one that
// lost the race is closed before dialHedged returns.
func TestDialHedgedClosesTheLoser(t *testing.T) {
	var mu sync.Mutex
	var conns []net.Conn
	release := make(chan struct{})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-release
		a, b := net.Pipe()
		mu.Lock()
		conns = append(conns, b)
		mu.Unlock()
		return a, nil
	}
	go func() { time.Sleep(80 * time.Millisecond); close(release) }()
	c, err := dialHedged(context.Background(), dial, "192.0.2.1:80", time.Second, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	// Exactly one peer end sees its connection closed.
	closed := 0
	for _, b := range conns {
		b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := b.Read(make([]byte, 1)); err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d of 2 connections closed, want 1 (the loser)", closed)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
