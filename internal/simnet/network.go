package simnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hostState is one roster address at run time. p changes only through Cure.
type hostState struct {
	site
	cust  customer
	p     Personality
	cured bool
}

// Network is a running simulated network. Its methods are safe for
// concurrent use.
type Network struct {
	cfg   Config
	hosts []*hostState // sorted by address
	index map[netip.Addr]*hostState

	mu      sync.Mutex // guards everything below, and hostState.p/cured
	closed  bool
	lns     []net.Listener
	conns   map[net.Conn]struct{}
	reqs    []Request
	dropped int
	logw    io.Writer
	logErr  error

	done     chan struct{} // closed by Close: handlers stop waiting
	wg       sync.WaitGroup
	stopCtx  func() bool
	closeErr error
	once     sync.Once
}

// Request is one request line a host received.
type Request struct {
	Time   time.Time  `json:"time"`
	Addr   netip.Addr `json:"ip"`
	Port   uint16     `json:"port"`
	Method string     `json:"method,omitempty"`
	Target string     `json:"target,omitempty"` // path and query as sent
	Proto  string     `json:"proto,omitempty"`
	Raw    string     `json:"raw,omitempty"` // the line, when it is not METHOD TARGET PROTO
}

// Path is the target without its query.
func (r Request) Path() string { p, _, _ := strings.Cut(r.Target, "?"); return p }

// maxLogged bounds the in-memory request log: a hostile client could
// otherwise grow it without end.
const maxLogged = 200_000

// Start plans the network from cfg, binds one listener per serving address
// and serves until ctx is done or Close is called. On error nothing is left
// bound.
func Start(ctx context.Context, cfg Config) (*Network, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := plan(c)
	if err != nil {
		return nil, err
	}
	n := &Network{
		cfg:   c,
		hosts: l.hosts,
		index: make(map[netip.Addr]*hostState, len(l.hosts)),
		conns: map[net.Conn]struct{}{},
		done:  make(chan struct{}),
	}
	for _, h := range l.hosts {
		n.index[h.addr] = h
	}
	var lc net.ListenConfig
	var serving []*hostState
	for _, h := range l.hosts {
		if !specs[h.p].listens {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp4", netip.AddrPortFrom(h.addr, c.Port).String())
		if err != nil {
			for _, ln := range n.lns {
				ln.Close()
			}
			return nil, fmt.Errorf("simnet: listen on %s port %d: %w", h.addr, c.Port, err)
		}
		n.lns = append(n.lns, ln)
		serving = append(serving, h)
	}
	for i, ln := range n.lns {
		n.wg.Add(1)
		go n.accept(ln, serving[i])
	}
	n.stopCtx = context.AfterFunc(ctx, func() { n.Close() })
	return n, nil
}

// Close stops every listener and connection and waits for every goroutine
// simnet started. It is safe to call more than once.
func (n *Network) Close() error {
	n.once.Do(func() {
		if n.stopCtx != nil {
			n.stopCtx()
		}
		n.mu.Lock()
		n.closed = true
		close(n.done)
		var errs []error
		for _, ln := range n.lns {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		for c := range n.conns {
			c.Close()
		}
		n.mu.Unlock()
		n.wg.Wait()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Prefix is the simulated range; Port the port every host serves on.
func (n *Network) Prefix() netip.Prefix { return n.cfg.Prefix }
func (n *Network) Port() uint16         { return n.cfg.Port }

// Listeners is how many addresses accept connections.
func (n *Network) Listeners() int { return len(n.lns) }

// SetRequestLog makes every request from now on also go to w as a JSON line.
// A write error stops the logging; RequestLogErr reports it.
func (n *Network) SetRequestLog(w io.Writer) {
	n.mu.Lock()
	n.logw = w
	n.mu.Unlock()
}

// RequestLogErr is the first error writing the request log, if any.
func (n *Network) RequestLogErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logErr
}

// Requests is every request line received so far, in arrival order (at most
// the first 200,000).
func (n *Network) Requests() []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.reqs)
}

// RequestsTo is the requests one address received.
func (n *Network) RequestsTo(a netip.Addr) []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Request
	for _, r := range n.reqs {
		if r.Addr == a {
			out = append(out, r)
		}
	}
	return out
}

// Hosts is every roster address with its current personality and ground
// truth, in address order.
func (n *Network) Hosts() []Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		out = append(out, n.hostLocked(h))
	}
	return out
}

// Host is one address's entry, and whether it is in the roster.
func (n *Network) Host(a netip.Addr) (Host, bool) {
	h, ok := n.index[a]
	if !ok {
		return Host{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hostLocked(h), true
}

func (n *Network) hostLocked(h *hostState) Host {
	s := specs[h.p]
	return Host{
		Addr: h.addr, Port: n.cfg.Port, Personality: h.p, Listening: s.listens,
		CustomerID: h.cust.id, Name: h.cust.name, Phone: h.cust.phone, Plan: h.cust.plan,
		Block: h.cust.block, Subnet: h.cust.subnet, Hostile: s.hostile, Cured: h.cured,
		Verdict: s.verdict, Findings: slices.Clone(s.findings),
		ConfirmVerdict: s.cverdict, ConfirmFindings: slices.Clone(s.cfinds),
	}
}

// ErrNotCurable is returned by Cure for a host with nothing to cure.
var ErrNotCurable = errors.New("not infected or vulnerable")

// Cure turns an infected or vulnerable host into its patched, clean twin:
// MS01-033 installed, the worm removed and the .ida script mapping deleted,
// as the NOC's cleaning instructions say. Connections already open finish
// with the old personality.
func (n *Network) Cure(a netip.Addr) error {
	h, ok := n.index[a]
	if !ok {
		return fmt.Errorf("simnet: cure %s: not a roster address", a)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	twin := specs[h.p].cure
	if twin == "" {
		return fmt.Errorf("simnet: cure %s (%s): %w", a, h.p, ErrNotCurable)
	}
	h.p, h.cured = twin, true
	return nil
}

func (n *Network) personality(h *hostState) Personality {
	n.mu.Lock()
	defer n.mu.Unlock()
	return h.p
}

func (n *Network) accept(ln net.Listener, h *hostState) {
	defer n.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: the kernel keeps the backlog; wait and retry
			// rather than spin or give up on the host.
			select {
			case <-n.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !n.track(c) {
			c.Close()
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.untrack(c)
			n.serve(c, h)
		}()
	}
}

func (n *Network) track(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Network) untrack(c net.Conn) {
	c.Close()
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

func (n *Network) logRequest(h *hostState, line string) {
	r := Request{Time: n.cfg.Now().UTC(), Addr: h.addr, Port: n.cfg.Port}
	if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "HTTP/") {
		r.Method, r.Target, r.Proto = f[0], f[1], f[2]
	} else if len(f) == 2 && strings.HasPrefix(f[1], "/") { // HTTP/0.9 "GET /"
		r.Method, r.Target = f[0], f[1]
	} else {
		r.Raw = line
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.reqs) < maxLogged {
		n.reqs = append(n.reqs, r)
	} else {
		n.dropped++
	}
	if n.logw != nil && n.logErr == nil {
		b, _ := json.Marshal(r) // a Request always marshals
		if _, err := n.logw.Write(append(b, '\n')); err != nil {
			n.logErr = err
		}
	}
}

// Request reading limits: enough for any scanner's request, small enough
// that a flood of junk cannot grow memory.
const (
	maxRequestLine = 8 << 10
	maxRequest     = 64 << 10
)

// readRequest reads the request line and headers, up to the blank line. It
// returns the request line, or ok=false when no line arrived. A request cut
// short (EOF, timeout, too long) still counts once its line is in: real
// servers answer what they parsed.
func readRequest(br *bufio.Reader) (line string, ok bool) {
	for total := 0; total <= maxRequest; {
		b, err := br.ReadSlice('\n')
		total += len(b)
		if err != nil {
			return line, ok
		}
		s := strings.TrimRight(string(b), "\r\n")
		switch {
		case !ok && s == "": // a stray blank line before the request
		case !ok:
			line, ok = s, true
		case s == "":
			return line, true
		}
	}
	return line, ok
}

func (n *Network) serve(c net.Conn, h *hostState) {
	p := n.personality(h)
	c.SetReadDeadline(time.Now().Add(n.cfg.ReadTimeout))
	br := bufio.NewReaderSize(c, maxRequestLine)
	line, ok := readRequest(br)
	if !ok {
		return
	}
	n.logRequest(h, line)
	method, target := "GET", "/"
	if f := strings.Fields(line); len(f) >= 2 {
		method, target = strings.ToUpper(f[0]), f[1]
	}
	c.SetReadDeadline(time.Time{})

	switch p {
	case Silent:
		n.holdOpen(c)
		return
	case Reset:
		rst(c)
		return
	case Slow:
		select {
		case <-n.done:
			return
		case <-time.After(n.cfg.SlowDelay):
		}
	}
	if specs[p].hostile {
		n.hostile(c, p)
		return
	}
	out := h.respond(p, method, target, n.cfg.Now())
	c.SetWriteDeadline(time.Now().Add(n.cfg.ReadTimeout))
	c.Write(out)
	// HTTP/1.0-style: the answer ends with the connection. Half-close first
	// so the client reads EOF, not a reset from unread request bytes.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// holdOpen never answers: it drops what the client sends until the client
// leaves or Close closes the connection.
func (n *Network) holdOpen(c net.Conn) {
	io.Copy(io.Discard, c)
}

// rst closes with SO_LINGER 0 so the peer sees a reset, not a FIN.
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// hostile runs one of issue 7's broken servers. Each stops when the client
// goes away or simnet closes.
func (n *Network) hostile(c net.Conn, p Personality) {
	write := func(b []byte) bool {
		c.SetWriteDeadline(time.Now().Add(n.cfg.ReadTimeout))
		_, err := c.Write(b)
		return err == nil
	}
	now := httpDate(n.cfg.Now())
	switch p {
	case HostileTrickle:
		msg := []byte("HTTP/1.1 200 OK\r\nServer: tarpit\r\nContent-Type: text/html\r\n\r\n")
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for i := 0; ; i++ {
			b := byte('.')
			if i < len(msg) {
				b = msg[i]
			}
			if !write([]byte{b}) {
				return
			}
			select {
			case <-n.done:
				return
			case <-t.C:
			}
		}
	case HostileEndless:
		if !write([]byte("HTTP/1.1 200 OK\r\nServer: streamer/0.1\r\nDate: " + now + "\r\nContent-Type: text/html\r\n\r\n<html><body>")) {
			return
		}
		chunk := bytes.Repeat([]byte("<p>more</p>\n"), 1024)
		for {
			select {
			case <-n.done:
				return
			default:
			}
			if !write(chunk) {
				return
			}
		}
	case HostileHugeLine:
		if !write([]byte("HTTP/1.1 200 OK\r\nServer: hugeline\r\nX-Big: ")) {
			return
		}
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for range 16 { // 1 MiB
			if !write(chunk) {
				return
			}
		}
		write([]byte("\r\nContent-Length: 2\r\n\r\nok"))
	case HostileGarbage:
		// Fixed pseudo-random bytes: no status line, no CR LF structure.
		b := make([]byte, 4096)
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		write(b)
	case HostileHTTP09:
		write([]byte("<html><head><title>Welcome</title></head><body>HTTP/0.9 server</body></html>\n"))
	case HostileResetMid:
		write([]byte("HTTP/1.1 200 OK\r\nServer: Apache/1.3.20 (Unix)\r\nDate: " + now + "\r\nContent-Ty"))
		rst(c)
		return
	case HostileStatus:
		write([]byte("HTTP/1.1 200 OK\r\n"))
	case HostileHeaders:
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nServer: manyheaders\r\n")
		for i := range 5000 {
			b.WriteString("X-Filler-" + strconv.Itoa(i) + ": " + strings.Repeat("x", 16) + "\r\n")
		}
		body := "<html><body>ok</body></html>"
		b.WriteString("Content-Length: " + clen(body) + "\r\n\r\n" + body)
		write([]byte(b.String()))
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
