package syn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"redsweep/scanner"
	"redsweep/scanner/permute"
)

// The integration tests build two network namespaces joined by a veth pair:
//
//	scan ns:  rs-s 198.19.255.1/24, route 198.18.0.0/16 via .254, no default
//	          route, nft output: only 198.18.0.0/16 and 198.19.255.0/24 leave
//	hosts ns: rs-h 198.19.255.254/24, AnyIP local 198.18.0.0/16 on lo, one
//	          listener on :80, nft making chosen addresses closed (tcp reset),
//	          filtered (drop) or unreachable (icmp host-unreachable); output
//	          only to 198.19.255.0/24 or lo
//
// The scanner runs in a child process (this test binary, re-executed under
// `ip netns exec`), so every goroutine and socket it has lives in the scan
// namespace. The child refuses to send if any outside address routes.

const helperEnv = "REDSWEEP_SYN_HELPER"

func TestMain(m *testing.M) {
	if job := os.Getenv(helperEnv); job != "" {
		os.Exit(runHelper(job))
	}
	os.Exit(m.Run())
}

// helperJob is what the parent asks the child to scan.
type helperJob struct {
	Prefix     string
	Seed       uint64
	Rate       int
	SubnetRate int
	RetryDelay time.Duration
	Cooldown   time.Duration
}

type helperHit struct {
	Target netip.AddrPort
	Status string
	Err    string
}

func runHelper(raw string) int {
	var job helperJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		fmt.Fprintln(os.Stderr, "helper: bad job:", err)
		return 2
	}
	// Network safety: nothing outside the test's namespaces may route.
	for _, a := range []string{"1.1.1.1:80", "8.8.8.8:80", "192.0.2.1:80", "10.0.0.1:80", "172.16.0.1:80"} {
		if src, err := sourceFor(netip.MustParseAddrPort(a)); err == nil {
			fmt.Fprintf(os.Stderr, "helper: refusing to scan: %s routes (from %v)\n", a, src)
			return 3
		}
	}
	prefix := netip.MustParsePrefix(job.Prefix)
	base := binary.BigEndian.Uint32(prefix.Addr().AsSlice())
	p := permute.New(1<<(32-prefix.Bits()), job.Seed)
	targets := func(yield func(netip.AddrPort) bool) {
		for _, v := range p.Range(0, p.Len()) {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], base+uint32(v))
			if !yield(netip.AddrPortFrom(netip.AddrFrom4(a), 80)) {
				return
			}
		}
	}
	s := &Scanner{Rate: job.Rate, SubnetRate: job.SubnetRate, RetryDelay: job.RetryDelay, Cooldown: job.Cooldown}
	out := make(chan scanner.Hit, 1024)
	errc := make(chan error, 1)
	go func() { errc <- s.Discover(context.Background(), targets, out); close(out) }()
	enc := json.NewEncoder(os.Stdout)
	for h := range out {
		if err := enc.Encode(helperHit{h.Target, h.Status, h.Err}); err != nil {
			return 1
		}
	}
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// testnet is the namespace pair; names are unique per process and test.
type testnet struct {
	scan, hosts string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newTestnet(t *testing.T, closed, filtered, unreach []netip.Addr) *testnet {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and raw sockets")
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (iproute2 / nftables): %v", bin, err)
		}
	}
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n := &testnet{
		scan:  fmt.Sprintf("rs-syn-%d-%s-s", os.Getpid(), strings.ToLower(t.Name())),
		hosts: fmt.Sprintf("rs-syn-%d-%s-h", os.Getpid(), strings.ToLower(t.Name())),
	}
	if out, err := exec.Command("ip", "netns", "add", n.scan).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.scan).Run() })
	run(t, "ip", "netns", "add", n.hosts)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.hosts).Run() })

	run(t, "ip", "-n", n.scan, "link", "add", "rs-s", "type", "veth", "peer", "name", "rs-h", "netns", n.hosts)
	run(t, "ip", "-n", n.scan, "link", "set", "lo", "up")
	run(t, "ip", "-n", n.scan, "addr", "add", "198.19.255.1/24", "dev", "rs-s")
	run(t, "ip", "-n", n.scan, "link", "set", "rs-s", "up")
	run(t, "ip", "-n", n.hosts, "link", "set", "lo", "up")
	run(t, "ip", "-n", n.hosts, "addr", "add", "198.19.255.254/24", "dev", "rs-h")
	run(t, "ip", "-n", n.hosts, "link", "set", "rs-h", "up")
	run(t, "ip", "-n", n.scan, "route", "add", "198.18.0.0/16", "via", "198.19.255.254")
	run(t, "ip", "-n", n.hosts, "route", "add", "local", "198.18.0.0/16", "dev", "lo")
	// Without this most ICMP errors are rate-limited away and look filtered.
	run(t, "ip", "netns", "exec", n.hosts, "sh", "-c",
		"echo 0 > /proc/sys/net/ipv4/icmp_ratelimit && echo 100000 > /proc/sys/net/ipv4/icmp_msgs_burst")

	// Safety, checked before anything is sent: the scan ns routes nothing else.
	for _, a := range []string{"1.1.1.1", "8.8.8.8", "192.0.2.1", "10.0.0.1"} {
		if out, err := exec.Command("ip", "-n", n.scan, "route", "get", a).CombinedOutput(); err == nil {
			t.Fatalf("scan namespace routes %s: %s", a, out)
		}
	}
	rules := `
table inet guard {
	chain output {
		type filter hook output priority 0; policy drop;
		oifname "lo" accept
		ip daddr { 198.18.0.0/16, 198.19.255.0/24 } accept
	}
}`
	nft(t, n.scan, rules)
	rules = fmt.Sprintf(`
table inet roles {
	set closed { type ipv4_addr; %s }
	set filtered { type ipv4_addr; %s }
	set unreach { type ipv4_addr; %s }
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr @filtered drop
		ip daddr @unreach reject with icmp type host-unreachable
		ip daddr @closed tcp dport 80 reject with tcp reset
	}
	chain output {
		type filter hook output priority 0; policy drop;
		oifname "lo" accept
		ip daddr 198.19.255.0/24 accept
	}
}`, elements(closed), elements(filtered), elements(unreach))
	nft(t, n.hosts, rules)

	// One listener serves every address (AnyIP); its socket is created in
	// the hosts namespace, after which it works from any thread.
	var ln net.Listener
	if err := inNetns(n.hosts, func() (err error) { ln, err = net.Listen("tcp4", "0.0.0.0:80"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return n
}

func elements(as []netip.Addr) string {
	if len(as) == 0 {
		return ""
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return "elements = { " + strings.Join(s, ", ") + " }"
}

func nft(t *testing.T, ns, rules string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, rules)
	}
}

// inNetns runs fn on a thread moved into namespace ns. The thread stays
// locked, so Go discards it afterwards instead of reusing it elsewhere.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// scanIn runs the helper in the scan namespace and returns its hits.
func (n *testnet) scanIn(t *testing.T, job helperJob) []helperHit {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(job)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.scan, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scan helper: %v\n%s", err, stderr.String())
	}
	var hits []helperHit
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var h helperHit
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatalf("helper output %q: %v", sc.Text(), err)
		}
		hits = append(hits, h)
	}
	return hits
}

func TestSYNDiscoveryMatchesTruth(t *testing.T) {
	// Roles for 198.18.0.0/24, scattered by a seeded shuffle.
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(256)
	truth := map[netip.AddrPort]string{}
	var closed, filtered, unreach []netip.Addr
	for i, x := range order {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(x)})
		switch {
		case i < 40:
			truth[netip.AddrPortFrom(a, 80)] = scanner.StatusSuccess
		case i < 100:
			filtered = append(filtered, a)
			truth[netip.AddrPortFrom(a, 80)] = scanner.StatusTimeout
		case i < 120:
			unreach = append(unreach, a)
			truth[netip.AddrPortFrom(a, 80)] = scanner.StatusUnreachable
		default:
			closed = append(closed, a)
			truth[netip.AddrPortFrom(a, 80)] = scanner.StatusRefused
		}
	}
	n := newTestnet(t, closed, filtered, unreach)
	// The default SubnetRate (100/s) applies: one /24 takes about 2.6 s.
	hits := n.scanIn(t, helperJob{Prefix: "198.18.0.0/24", Seed: 9, Rate: 2000,
		RetryDelay: 400 * time.Millisecond, Cooldown: 400 * time.Millisecond})
	got := map[netip.AddrPort]int{}
	counts := map[string]int{}
	for _, h := range hits {
		got[h.Target]++
		counts[h.Status]++
		want, ok := truth[h.Target]
		switch {
		case !ok:
			t.Errorf("hit for a target never given: %+v", h)
		case h.Status != want:
			t.Errorf("%v: %s (%s), want %s", h.Target, h.Status, h.Err, want)
		}
	}
	for tg := range truth {
		if got[tg] != 1 {
			t.Errorf("%v: %d hits, want exactly 1", tg, got[tg])
		}
	}
	t.Logf("256 targets: %v", counts)
}

// TestSYNPacketsLeaveEvenly records, on the receiving side, the kernel's
// arrival time of every SYN of a 4,096-target sweep at 2,000 pps, and checks
// that no 100 ms slice carries more than 1.5x its share (200).
func TestSYNPacketsLeaveEvenly(t *testing.T) {
	n := newTestnet(t, nil, nil, nil)
	const rate, targets = 2000, 4096
	var (
		mu    sync.Mutex
		times []time.Time
		fd    int
	)
	err := inNetns(n.hosts, func() error {
		ifi, err := net.InterfaceByName("rs-h")
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("capture socket in the hosts namespace: %v", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, oob := make([]byte, 256), make([]byte, 128)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nb, noob, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				continue // timeout: look at stop again
			}
			p := buf[:nb]
			if nb < 40 || p[9] != 6 {
				continue
			}
			ihl := int(p[0]&0xf) * 4
			tcp := p[ihl:]
			// Our SYNs only: source port, SYN without ACK.
			if binary.BigEndian.Uint16(tcp[0:2]) != DefaultSourcePort || tcp[13]&0x12 != 0x02 {
				continue
			}
			msgs, err := unix.ParseSocketControlMessage(oob[:noob])
			if err != nil {
				continue
			}
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					mu.Lock()
					times = append(times, time.Unix(sec, nsec))
					mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() { unix.Close(fd) })

	hits := n.scanIn(t, helperJob{Prefix: "198.18.16.0/20", Seed: 4, Rate: rate, SubnetRate: 1000,
		Cooldown: 300 * time.Millisecond})
	time.Sleep(200 * time.Millisecond) // let the capture read what is queued
	close(stop)
	<-done

	if len(hits) != targets {
		t.Fatalf("%d hits for %d targets", len(hits), targets)
	}
	for _, h := range hits {
		if h.Status != scanner.StatusSuccess {
			t.Fatalf("%v: %s (%s); every address is open here", h.Target, h.Status, h.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != targets {
		t.Fatalf("captured %d SYNs, want %d (one per open target)", len(times), targets)
	}
	first, last := times[0], times[len(times)-1]
	for _, ts := range times {
		if ts.Before(first) {
			first = ts
		}
		if ts.After(last) {
			last = ts
		}
	}
	const slice = 100 * time.Millisecond
	nslices := int(last.Sub(first) / slice) // whole slices only; the last partial one is dropped
	counts := make([]int, nslices+1)
	for _, ts := range times {
		counts[int(ts.Sub(first)/slice)]++
	}
	counts = counts[:nslices]
	share := rate * slice.Seconds()
	lo, hi := counts[0], counts[0]
	for i, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
		if float64(c) > 1.5*share {
			t.Errorf("slice %d (%v-%v) carried %d SYNs, more than 1.5x its share of %.0f", i, time.Duration(i)*slice, time.Duration(i+1)*slice, c, share)
		}
	}
	t.Logf("%d SYNs over %v (%.0f pps); per 100 ms slice: min %d, max %d, share %.0f", len(times),
		last.Sub(first).Round(time.Millisecond), float64(len(times)-1)/last.Sub(first).Seconds(), lo, hi, share)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// BenchmarkSendLoopback is the real send path (build + sendto on the raw
// socket), to 127.0.0.2 only; the kernel's RSTs come back to loopback.
func BenchmarkSendLoopback(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for raw sockets")
	}
	io, err := openRaw(netip.MustParseAddrPort("127.0.0.1:61234"), testKey)
	if err != nil {
		b.Skip(err)
	}
	defer io.close()
	dst := netip.MustParseAddrPort("127.0.0.2:9")
	b.ReportAllocs()
	for range b.N {
		if err := io.send(dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
