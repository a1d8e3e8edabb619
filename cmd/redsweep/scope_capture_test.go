package main

// Scope, proved on the wire (issue 7 point 4): a packet capture on loopback
// records every packet a sweep sends, and the test checks that none went
// anywhere but the given targets minus the exclusions. Targets outside the
// roster are refused unless allowed; multicast, broadcast, 0.0.0.0/8 and
// 240.0.0.0/4 are refused always.
//
// Both tests run in a child process in a network namespace of its own (see
// inPrivateNetns): its only interface is a fresh loopback, so the capture
// sees the sweep's packets and nobody else's, and a scope bug cannot put a
// packet on a real network — an address that is not loopback has no route.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/afpacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"redsweep/internal/simnet"
)

// netnsChildEnv, set to a test's name, tells the test binary it is the child
// that inPrivateNetns started inside the new namespace.
const netnsChildEnv = "REDSWEEP_TEST_NETNS_CHILD"

// inPrivateNetns makes the calling test run in a fresh network namespace.
// In the test process it starts this test binary again, running only this
// test, in a new namespace (CLONE_NEWNET), relays the child's output and
// verdict, and returns false: the caller returns. In the child it brings the
// namespace's loopback up, checks that loopback is the only interface, and
// returns true: the caller runs the test body. The namespace dies with the
// child, so nothing is left to remove.
func inPrivateNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		setUpPrivateLoopback(t)
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs in a private network namespace (CLONE_NEWNET)")
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v", "-test.parallel=8", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Pdeathsig follows the thread that started the child: keep it alive.
	runtime.LockOSThread()
	err := cmd.Run()
	runtime.UnlockOSThread()
	var ee *exec.ExitError
	switch {
	case err == nil && strings.Contains(out.String(), "--- SKIP: "+t.Name()+" ("):
		t.Skipf("skipped in the private network namespace:\n%s", out.String())
	case err == nil:
		t.Logf("child in a private network namespace:\n%s", out.String())
	case errors.As(err, &ee):
		t.Fatalf("child in a private network namespace failed (%v):\n%s", err, out.String())
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL):
		t.Skipf("cannot create a network namespace here (%v); this test needs one so the sweep can reach only loopback", err)
	default:
		t.Fatalf("starting the child test in a new network namespace: %v", err)
	}
	return false
}

// setUpPrivateLoopback brings lo up in the child's new namespace (it starts
// down) and refuses to go on unless lo is the only interface: the test must
// never run its sweeps where other interfaces, and routes off the machine,
// exist.
func setUpPrivateLoopback(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatalf("reading lo flags: %v", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("bringing lo up: %v", err)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("refusing to run: want a private network namespace holding only lo, have %v", ifs)
	}
}

// capPkt is what the test keeps of one captured packet.
type capPkt struct {
	src, dst netip.Addr
	proto    string // "tcp", "udp" or the IP protocol / ethertype
	dport    uint16
	syn, ack bool
}

func (p capPkt) String() string {
	flags := ""
	if p.syn {
		flags += "S"
	}
	if p.ack {
		flags += "A"
	}
	return fmt.Sprintf("%s %s -> %s:%d [%s]", p.proto, p.src, p.dst, p.dport, flags)
}

// newTPacket opens an AF_PACKET ring on every interface, skipping the test
// when this machine allows none.
func newTPacket(t *testing.T) (*afpacket.TPacket, error) {
	t.Helper()
	tp, err := afpacket.NewTPacket(afpacket.OptPollTimeout(100 * time.Millisecond))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Skipf("no AF_PACKET capture here (needs CAP_NET_RAW and packet socket support): %v", err)
	}
	return tp, err
}

// loCapture records every frame on every interface of the namespace (only lo)
// through an AF_PACKET ring, from start until the end marker it sends in
// stop.
type loCapture struct {
	tp     *afpacket.TPacket
	marker []byte

	mu     sync.Mutex
	pkts   []capPkt
	seen   bool // the end marker arrived
	err    error
	frames int
	done   chan struct{}
	quit   chan struct{}
}

const markerPort = 9 // discard: nothing listens; the datagram only needs to pass the tap

func startCapture(t *testing.T) *loCapture {
	t.Helper()
	tp, err := newTPacket(t)
	if err != nil {
		t.Fatalf("AF_PACKET capture: %v", err)
	}
	// Keep the first 256 bytes of each frame: every header the test reads,
	// without copying whole 64 KiB loopback segments into the ring.
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 256}})
	if err == nil {
		err = tp.SetBPF(prog)
	}
	if err != nil {
		tp.Close()
		t.Fatalf("capture filter: %v", err)
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	c := &loCapture{tp: tp, marker: []byte("redsweep-capture-end-" + hex.EncodeToString(nonce)), done: make(chan struct{}), quit: make(chan struct{})}
	go c.loop()
	return c
}

func (c *loCapture) loop() {
	defer close(c.done)
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var ip6 layers.IPv6
	var tcp layers.TCP
	var udp layers.UDP
	var payload gopacket.Payload
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp, &payload)
	parser.IgnoreUnsupported = true
	var decoded []gopacket.LayerType
	for {
		select {
		case <-c.quit:
			return
		default:
		}
		data, _, err := c.tp.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		_ = parser.DecodeLayers(data, &decoded) // truncated frames decode as far as they go
		var p capPkt
		isMarker := false
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeEthernet:
				p.proto = "ethertype " + eth.EthernetType.String()
			case layers.LayerTypeIPv4:
				p.src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
				p.dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
				p.proto = "ip proto " + strconv.Itoa(int(ip4.Protocol))
			case layers.LayerTypeIPv6:
				p.src, _ = netip.AddrFromSlice(ip6.SrcIP)
				p.dst, _ = netip.AddrFromSlice(ip6.DstIP)
				p.proto = "ipv6 next " + strconv.Itoa(int(ip6.NextHeader))
			case layers.LayerTypeTCP:
				p.proto, p.dport, p.syn, p.ack = "tcp", uint16(tcp.DstPort), tcp.SYN, tcp.ACK
			case layers.LayerTypeUDP:
				p.proto, p.dport = "udp", uint16(udp.DstPort)
				isMarker = udp.DstPort == markerPort && bytes.Equal(udp.Payload, c.marker)
			}
		}
		c.mu.Lock()
		c.frames++
		if isMarker {
			c.seen = true
		} else {
			c.pkts = append(c.pkts, p)
		}
		done := c.seen
		c.mu.Unlock()
		if done {
			return
		}
	}
}

// stop sends the end marker after everything the sweep sent (the kernel
// hands a loopback frame to packet sockets in the sender's own system call,
// so every SYN of a finished sweep is already in the ring ahead of it),
// reads up to the marker and closes the ring. It fails the test when the
// kernel dropped frames: a capture with holes proves nothing.
func (c *loCapture) stop(t *testing.T) []capPkt {
	t.Helper()
	defer c.tp.Close()
	conn, err := net.Dial("udp4", "127.0.0.1:"+strconv.Itoa(markerPort))
	if err != nil {
		t.Fatalf("end marker: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn.Write(c.marker)
		select {
		case <-c.done:
		case <-time.After(500 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			close(c.quit)
			<-c.done
			conn.Close()
			t.Fatalf("the capture never saw its end marker (%d frames read)", c.frames)
		}
		break
	}
	conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Fatalf("capture: %v", c.err)
	}
	if !c.seen {
		t.Fatal("capture ended without its end marker")
	}
	st, st3, err := c.tp.SocketStats() // st for TPACKET_V1/V2 rings, st3 for V3
	if err != nil {
		t.Fatalf("capture statistics: %v", err)
	}
	if drops := st.Drops() + st3.Drops(); drops != 0 {
		t.Fatalf("the kernel dropped %d frames: the capture is incomplete", drops)
	}
	return c.pkts
}

// scopeAddrs is a plain set of addresses, computed by the test on its own
// rather than by the scanner code under test.
type scopeAddrs map[netip.Addr]bool

func (s scopeAddrs) sorted() []netip.Addr {
	out := make([]netip.Addr, 0, len(s))
	for a := range s {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func expandPrefix(p netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
		out = append(out, a)
	}
	return out
}

func scopeWriteFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCapture holds the captured packets of one sweep against its scope:
// every SYN went to an allowed address on the swept port; every other packet
// went to an allowed address or back to the sweep's own source address;
// forbidden addresses got nothing; every allowed address got a SYN.
func checkCapture(t *testing.T, pkts []capPkt, port uint16, allowed, forbidden scopeAddrs) {
	t.Helper()
	clients := scopeAddrs{}
	syns := map[netip.Addr]int{}
	var bad []string
	for _, p := range pkts {
		if p.proto == "tcp" && p.syn && !p.ack {
			clients[p.src] = true
			syns[p.dst]++
			if (!allowed[p.dst] || p.dport != port) && !slices.Contains(bad, p.String()) {
				bad = append(bad, p.String())
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("SYNs out of scope, %d distinct: %s", len(bad), strings.Join(bad[:min(len(bad), 10)], "; "))
	}
	var stray []string
	to := map[netip.Addr]int{}
	for _, p := range pkts {
		to[p.dst]++
		if !allowed[p.dst] && !clients[p.dst] {
			stray = append(stray, p.String())
		}
	}
	if len(stray) > 0 {
		t.Errorf("%d packets to addresses outside the scope (and not replies to the sweep), e.g. %s", len(stray), strings.Join(stray[:min(len(stray), 10)], "; "))
	}
	var hit []string
	for _, a := range forbidden.sorted() {
		if to[a] > 0 {
			hit = append(hit, fmt.Sprintf("%s (%d packets, %d SYNs)", a, to[a], syns[a]))
		}
	}
	if len(hit) > 0 {
		t.Errorf("%d addresses outside the targets, outside the roster or excluded got packets: %s", len(hit), strings.Join(hit[:min(len(hit), 10)], ", "))
	}
	missing := 0
	for _, a := range allowed.sorted() {
		if syns[a] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("no SYN captured to in-scope %s: the capture (or the sweep) missed it", a)
			}
		}
	}
	if len(syns) == 0 {
		t.Errorf("no SYN captured at all (%d frames): the capture does not work", len(pkts))
	}
	t.Logf("captured %d frames: SYNs to %d addresses (%d in scope), sweep source %v", len(pkts), len(syns), len(allowed), clients.sorted())
}

type scopeRow struct {
	IP     string `json:"ip"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

func scopeExport(t *testing.T, db string) []scopeRow {
	t.Helper()
	code, out, errs := cli(t, context.Background(), "--db", db, "export", "--format", "ndjson")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	var rows []scopeRow
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r scopeRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("export output: %v", err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestSweepSendsOnlyToTargetsMinusExclusions sweeps part of a simulated
// network with an exclude file (listening IIS hosts among the excluded)
// while capturing every frame on loopback, and checks the capture against
// the scope the test works out for itself: every SYN went to (targets ∩
// roster) − exclusions (targets − exclusions with --allow-outside-roster),
// every other packet went there or back to the sweep, excluded and
// out-of-roster addresses got no packet at all, and every in-scope address
// got its SYN (so the capture demonstrably works).
func TestSweepSendsOnlyToTargetsMinusExclusions(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	if tp, err := newTPacket(t); err == nil {
		tp.Close()
	}
	const port = 18095
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.95.0.0/22"), Port: port, Seed: 95, Customers: 240,
		Mix: map[simnet.Personality]int{
			simnet.IIS5Ida: 20, simnet.IIS6: 20, simnet.CodeRed1: 8, simnet.Nimda: 6, simnet.IIS5NoIda: 12,
			simnet.Apache13: 20, simnet.Nginx: 14,
		},
	})
	roster := scopeAddrs{}
	hosts := map[netip.Addr]simnet.Host{}
	for _, h := range n.Hosts() {
		for _, a := range expandPrefix(h.Block) {
			roster[a] = true
		}
		hosts[h.Addr] = h
	}

	type sweepCase struct {
		name         string
		targets      []netip.Prefix
		allowOutside bool
		// pick chooses the exclusions: lines for the exclude file and the
		// addresses they cover.
		pick func(t *testing.T, inTargets func(netip.Addr) bool) (lines []string, excluded scopeAddrs)
	}
	isIIS := func(h simnet.Host) bool { return strings.HasPrefix(string(h.Personality), "iis") }

	cases := []sweepCase{
		{
			// Half the roster's range and a block outside the roster: the
			// outside part is refused, the other half never touched.
			name:    "inside roster",
			targets: []netip.Prefix{netip.MustParsePrefix("127.95.2.0/23"), netip.MustParsePrefix("127.95.4.0/26")},
			pick: func(t *testing.T, in func(netip.Addr) bool) ([]string, scopeAddrs) {
				ex := scopeAddrs{}
				var lines []string
				var iis, listening, closed []netip.Addr
				var block netip.Prefix
				for _, a := range roster.sorted() {
					h, ok := hosts[a]
					if !ok || !in(a) {
						continue
					}
					switch {
					case !h.Block.IsSingleIP() && !block.IsValid():
						block = h.Block
					case !h.Block.IsSingleIP():
					case h.Listening && isIIS(h):
						iis = append(iis, a)
					case h.Listening:
						listening = append(listening, a)
					default:
						closed = append(closed, a)
					}
				}
				if len(iis) < 2 || len(listening) < 2 || len(closed) < 1 {
					t.Fatalf("simnet layout: too few hosts in the target range to exclude (iis %d, other listening %d, closed %d)", len(iis), len(listening), len(closed))
				}
				// A listening IIS host, alone on its line with a comment.
				lines = append(lines, iis[0].String()+"   # listening IIS, must not be touched")
				ex[iis[0]] = true
				// A short range around another listening IIS host.
				a := iis[len(iis)-1]
				lo, hi := a.Prev(), a.Next()
				lines = append(lines, lo.String()+"-"+hi.String())
				ex[lo], ex[a], ex[hi] = true, true, true
				// Two other listeners and a closed roster address.
				for _, a := range []netip.Addr{listening[0], listening[len(listening)/2], closed[0]} {
					lines = append(lines, a.String())
					ex[a] = true
				}
				if block.IsValid() {
					lines = append(lines, block.String())
					for _, a := range expandPrefix(block) {
						ex[a] = true
					}
				}
				// An exclusion outside the targets changes nothing.
				lines = append(lines, "127.95.0.0/24")
				return lines, ex
			},
		},
		{
			// Outside the roster, allowed explicitly: the targets bound the
			// sweep, the exclusions still hold.
			name:         "allow outside roster",
			targets:      []netip.Prefix{netip.MustParsePrefix("127.95.1.0/25"), netip.MustParsePrefix("127.95.4.0/28")},
			allowOutside: true,
			pick: func(t *testing.T, in func(netip.Addr) bool) ([]string, scopeAddrs) {
				ex := scopeAddrs{}
				var lines []string
				for _, a := range roster.sorted() {
					if h, ok := hosts[a]; ok && in(a) && h.Listening && isIIS(h) {
						lines, ex[a] = append(lines, a.String()), true
						break
					}
				}
				if len(lines) == 0 {
					t.Fatal("simnet layout: no listening IIS host in 127.95.1.0/25")
				}
				for _, s := range []string{"127.95.4.5", "127.95.1.7"} { // outside the roster (127.95.1.7 unless simnet put a customer there)
					a := netip.MustParseAddr(s)
					lines, ex[a] = append(lines, s), true
				}
				return lines, ex
			},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "rs.db")
			ctx := context.Background()
			if code, _, errs := cli(t, ctx, "--db", db, "customers", "import", rosterPath); code != 0 {
				t.Fatalf("import: exit %d: %s", code, errs)
			}
			inTargets := func(a netip.Addr) bool {
				return slices.ContainsFunc(tc.targets, func(p netip.Prefix) bool { return p.Contains(a) })
			}
			lines, excluded := tc.pick(t, inTargets)
			excludeFile := scopeWriteFile(t, filepath.Join(dir, "exclude.txt"), "# do not touch\n"+strings.Join(lines, "\n")+"\n")
			t.Logf("exclude file: %q", lines)

			// The scope, worked out here from the simnet layout.
			allowed, forbidden := scopeAddrs{}, scopeAddrs{}
			for _, p := range append(slices.Clone(tc.targets), netip.MustParsePrefix("127.95.0.0/21")) {
				for _, a := range expandPrefix(p) {
					ok := inTargets(a) && (roster[a] || tc.allowOutside) && !excluded[a]
					if ok {
						allowed[a] = true
					} else {
						forbidden[a] = true
					}
				}
			}
			if len(allowed) < 20 {
				t.Fatalf("only %d addresses in scope: the case does not exercise the sweep", len(allowed))
			}
			var ts []string
			for _, p := range tc.targets {
				ts = append(ts, p.String())
			}
			args := []string{"--db", db, "sweep", "--targets", strings.Join(ts, ","), "--exclude", excludeFile,
				"--ports", strconv.Itoa(port), "--rate", "0", "--concurrency", "64", "--timeout", "2s", "--host-timeout", "10s"}
			if tc.allowOutside {
				args = append(args, "--allow-outside-roster")
			}

			c := startCapture(t)
			code, out, errs := cli(t, ctx, args...)
			pkts := c.stop(t)
			if code != exitOK && code != exitNewInfections {
				t.Fatalf("sweep: exit %d\n%s%s", code, out, errs)
			}
			if !tc.allowOutside && !strings.Contains(errs, "not in the roster") {
				t.Errorf("targets outside the roster should be refused with a warning, stderr %q", errs)
			}
			if !strings.Contains(errs, "excluded") || !strings.Contains(errs, excludeFile) {
				t.Errorf("stderr should say how many addresses %s excluded: %q", excludeFile, errs)
			}
			checkCapture(t, pkts, port, allowed, forbidden)

			// What the sweep recorded is exactly the scope, and simnet
			// heard nothing from the excluded hosts.
			got := scopeAddrs{}
			for _, r := range scopeExport(t, db) {
				a := netip.MustParseAddr(r.IP)
				got[a] = true
				if !allowed[a] {
					t.Errorf("recorded a result for %s (%s), outside the scope", a, r.Status)
				}
			}
			if len(got) != len(allowed) {
				t.Errorf("recorded %d results, %d addresses in scope", len(got), len(allowed))
			}
			for a := range excluded {
				if rs := n.RequestsTo(a); len(rs) > 0 {
					t.Errorf("excluded %s received %d requests, e.g. %s", a, len(rs), rs[0].Target)
				}
			}
		})
	}
}

// TestSweepRefusesReservedTargets: multicast, broadcast, 0.0.0.0/8 and
// 240.0.0.0/4 are refused even with --allow-outside-roster, and so is the
// directed broadcast of a customer subnet. A refusal may be up front (an
// error, or a warning when other targets remain, naming what was refused)
// or per address (an out-of-scope result saying why, never dialled); either
// way a whole reserved block must not be walked address by address. It
// runs in a private network namespace too: were the scope gate broken,
// 240.0.0.1 would have no route off the machine.
func TestSweepRefusesReservedTargets(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	dir := t.TempDir()
	rosterPath := scopeWriteFile(t, filepath.Join(dir, "roster.csv"),
		"ip,customer_id,name,phone,subnet\n127.96.1.5,C1,Ann Abbott,555-0100,127.96.1.0/24\n127.96.1.6,C2,Bob Baker,555-0101,127.96.1.0/24\n")

	cases := []struct {
		targets string
		why     string // what an out-of-scope result's error must say
	}{
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"0.0.0.0/8", "0.0.0.0/8"},
		{"240.0.0.0/4", "240.0.0.0/4"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"0.0.0.0", "0.0.0.0/8"},
		{"240.0.0.1", "240.0.0.0/4"},
		{"255.255.255.254", "240.0.0.0/4"},
		// A customer address with a reserved block typed after it.
		{"127.96.1.5,224.0.0.0/4", "multicast"},
		// The directed broadcast of a customer subnet (roster column subnet).
		{"127.96.1.255", "broadcast"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.targets, "/", "_"), func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "rs.db")
			if code, _, errs := cli(t, context.Background(), "--db", db, "customers", "import", rosterPath); code != 0 {
				t.Fatalf("import: exit %d: %s", code, errs)
			}
			// A correct sweep answers in milliseconds; the deadline only
			// stops one that walks a /4 address by address.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, out, errs := cli(t, ctx, "--db", db, "sweep", "--targets", tc.targets, "--allow-outside-roster",
				"--ports", "18096", "--rate", "0", "--timeout", "1s")
			if code == exitInterruptedRun {
				t.Fatalf("--targets %s was accepted and walked address by address until the test's 10s safety deadline (%s); it must be refused up front", tc.targets, strings.TrimSpace(out))
			}
			lastTarget := tc.targets[strings.LastIndex(tc.targets, ",")+1:] // the reserved one
			var reserved []scopeRow
			var rows []scopeRow
			if code == exitOK || code == exitNewInfections {
				rows = scopeExport(t, db)
				for _, r := range rows {
					if !strings.HasPrefix(r.IP, "127.96.1.") || r.IP == "127.96.1.255" {
						reserved = append(reserved, r)
					}
				}
			}
			switch {
			case code == exitError || code == exitUsage:
				// Refused up front: the message must say what and why.
				if !strings.Contains(errs, "refused") || !strings.Contains(errs, lastTarget) {
					t.Errorf("exit %d; the message should name the refused target %s and say it is refused: %q", code, tc.targets, errs)
				}
			case code == exitOK || code == exitNewInfections:
				if len(rows) > 16 {
					t.Fatalf("--targets %s: %d results recorded; a reserved block must be refused, not walked", tc.targets, len(rows))
				}
				// Dropped up front with a warning, or recorded as refused.
				if len(reserved) == 0 && (!strings.Contains(errs, "refused") || !strings.Contains(errs, lastTarget)) {
					t.Errorf("--targets %s: exit %d, no result for %s and no warning naming it: silently dropped (stderr %q)", tc.targets, code, lastTarget, errs)
				}
				for _, r := range reserved {
					if r.Status != "out-of-scope" || !strings.Contains(r.Error, "always refused") || !strings.Contains(r.Error, tc.why) {
						t.Errorf("%s: status %q error %q; want out-of-scope, never dialled, 'always refused' (%s)", r.IP, r.Status, r.Error, tc.why)
					}
				}
			default:
				t.Errorf("--targets %s: exit %d\n%s%s", tc.targets, code, out, errs)
			}
		})
	}
}
