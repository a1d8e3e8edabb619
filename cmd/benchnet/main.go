// Command benchnet is the helper of `make bench` (bench/testnet-up.sh, bench/peers.sh).
//
//	benchnet roles  -prefix 198.18.0.0/16 -open 2000 -iis 500 -filtered 16384 -unreach 1000 -seed 1 -out DIR
//	benchnet serve  -truth DIR [-listen 0.0.0.0:80 | -per-addr -port 80] [-xaddr] [-ttl 2h]
//	benchnet wire   -ns-a /run/netns/tn-scan -tap-a tn-s -ns-b /run/netns/tn-hosts -tap-b tn-h -delay 10ms -queue 10000
//	benchnet score  -format nmap-grep -truth DIR -port 80 FILE   → "open_hit open_fp iis_hit iis_fp"
//	benchnet trickle -to 198.19.255.254:9 -pps 4 -ttl 10m
//	benchnet scan   -prefix 198.18.0.0/16 -port 80 -c 1000 -rate 10000 -timeout 1.5s  → open addresses, one a line
//	benchnet initdb FILE   creates an empty redsweep database (sweep refuses to create one; no roster needed)
//
// Every long-running subcommand exits by itself after -ttl, so a crashed harness leaves nothing
// running for long.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"redsweep/internal/benchnet"
	"redsweep/store"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "roles":
		err = roles(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "wire":
		err = wire(os.Args[2:])
	case "score":
		err = score(os.Args[2:])
	case "trickle":
		err = trickle(os.Args[2:])
	case "scan":
		err = scan(os.Args[2:])
	case "initdb":
		err = initDB(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchnet %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchnet roles|serve|wire|score|trickle|scan|initdb [flags] (see -h of each)")
	os.Exit(2)
}

// initDB creates an empty redsweep database: `redsweep sweep` opens only an
// existing one, and importing a roster would change the sweep's scope.
func initDB(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: benchnet initdb FILE")
	}
	if _, err := os.Stat(args[0]); err == nil {
		return fmt.Errorf("%s exists", args[0])
	}
	db, err := store.Open(args[0])
	if err != nil {
		return err
	}
	return db.Close()
}

func signalCtx(ttl time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	if ttl <= 0 {
		return ctx, stop
	}
	ctx2, cancel := context.WithTimeout(ctx, ttl)
	return ctx2, func() { cancel(); stop() }
}

func roles(args []string) error {
	fs := flag.NewFlagSet("roles", flag.ExitOnError)
	prefix := fs.String("prefix", "198.18.0.0/16", "address range")
	open := fs.Int("open", 2000, "open hosts (port answered by the HTTP server)")
	iis := fs.Int("iis", -1, "open hosts answering as IIS 5.0 (default: a quarter of -open)")
	filtered := fs.Int("filtered", 16384, "filtered hosts (dropped)")
	unreach := fs.Int("unreach", 1000, "unreachable hosts (ICMP host-unreachable)")
	seed := fs.Uint64("seed", 1, "seed of the assignment")
	out := fs.String("out", ".", "directory for open.txt iis.txt filtered.txt unreach.txt")
	fs.Parse(args)
	p, err := netip.ParsePrefix(*prefix)
	if err != nil {
		return err
	}
	if *iis < 0 {
		*iis = *open / 4
	}
	r, err := benchnet.Assign(benchnet.RoleSpec{Prefix: p, Open: *open, IIS: *iis, Filtered: *filtered, Unr: *unreach, Seed: *seed})
	if err != nil {
		return err
	}
	if err := benchnet.WriteTruth(*out, r); err != nil {
		return err
	}
	fmt.Printf("roles: %s seed %d: %d open (%d IIS), %d filtered, %d unreachable, %d closed -> %s\n",
		p.Masked(), *seed, *open, *iis, *filtered, *unreach, (1<<(32-p.Bits()))-*open-*filtered-*unreach, *out)
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	truth := fs.String("truth", ".", "directory with open.txt and iis.txt")
	listen := fs.String("listen", "0.0.0.0:80", "listener address (AnyIP: one listener serves the whole prefix)")
	perAddr := fs.Bool("per-addr", false, "loopback fallback: one listener per open address on -port instead of -listen")
	port := fs.Int("port", 80, "port for -per-addr")
	xaddr := fs.Bool("xaddr", false, "add an X-Testnet-Addr header naming the address hit")
	maxConns := fs.Int("max-conns", 4096, "concurrent connections")
	ttl := fs.Duration("ttl", 2*time.Hour, "exit after this long")
	ready := fs.String("ready", "", "file to create once listening")
	fs.Parse(args)
	open, err := benchnet.ReadAddrs(filepath.Join(*truth, "open.txt"))
	if err != nil {
		return err
	}
	iis, err := benchnet.ReadAddrs(filepath.Join(*truth, "iis.txt"))
	if err != nil {
		return err
	}
	var lns []net.Listener
	if *perAddr {
		for a := range open {
			ln, err := net.Listen("tcp4", netip.AddrPortFrom(a, uint16(*port)).String())
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return fmt.Errorf("listener %d of %d: %v", len(lns)+1, len(open), err)
			}
			lns = append(lns, ln)
		}
	} else {
		ln, err := net.Listen("tcp4", *listen)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "serve: %d listener(s), %d open addresses (%d IIS)\n", len(lns), len(open), len(iis))
	ctx, stop := signalCtx(*ttl)
	defer stop()
	s := &benchnet.Server{IIS: iis, Open: open, AddrHdr: *xaddr, MaxConns: *maxConns}
	err = s.Serve(ctx, lns)
	served, refused := s.Stats()
	fmt.Fprintf(os.Stderr, "serve: stopped: %d answered, %d closed unanswered\n", served, refused)
	return err
}

func wire(args []string) error {
	fs := flag.NewFlagSet("wire", flag.ExitOnError)
	nsA := fs.String("ns-a", "", "network namespace path of TAP a (\"\" = current)")
	tapA := fs.String("tap-a", "", "TAP device a (must exist)")
	nsB := fs.String("ns-b", "", "network namespace path of TAP b")
	tapB := fs.String("tap-b", "", "TAP device b (must exist)")
	delay := fs.Duration("delay", 10*time.Millisecond, "one-way delay, each direction")
	queue := fs.Int("queue", 10000, "frames queued per direction; more are dropped")
	ttl := fs.Duration("ttl", 2*time.Hour, "exit after this long")
	fs.Parse(args)
	if *tapA == "" || *tapB == "" || *delay < 0 || *delay > 5*time.Second || *queue < 1 || *queue > 1_000_000 {
		return fmt.Errorf("need -tap-a and -tap-b, 0 <= -delay <= 5s, 1 <= -queue <= 1e6")
	}
	a, err := benchnet.OpenTap(*nsA, *tapA)
	if err != nil {
		return err
	}
	b, err := benchnet.OpenTap(*nsB, *tapB)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wire: %s <-> %s, %v one way, queue %d\n", *tapA, *tapB, *delay, *queue)
	ctx, stop := signalCtx(*ttl)
	defer stop()
	w := &benchnet.Wire{Delay: *delay, Queue: *queue}
	w.Run(ctx, a, b)
	fmt.Fprintf(os.Stderr, "wire: stopped: a->b %d forwarded, %d dropped (queue full), %d write errors; b->a %d, %d, %d\n",
		w.AtoB.Forwarded.Load(), w.AtoB.Dropped.Load(), w.AtoB.WriteErr.Load(),
		w.BtoA.Forwarded.Load(), w.BtoA.Dropped.Load(), w.BtoA.WriteErr.Load())
	return nil
}

func score(args []string) error {
	fs := flag.NewFlagSet("score", flag.ExitOnError)
	format := fs.String("format", "ips", "ips | nmap-grep | nmap-normal | masscan | httpx | redsweep-csv")
	truth := fs.String("truth", ".", "directory with open.txt and iis.txt")
	port := fs.Int("port", 80, "scanned port")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("need exactly one output file")
	}
	open, err := benchnet.ReadAddrs(filepath.Join(*truth, "open.txt"))
	if err != nil {
		return err
	}
	iis, err := benchnet.ReadAddrs(filepath.Join(*truth, "iis.txt"))
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	found, err := benchnet.Parse(*format, f, *port)
	if err != nil {
		return err
	}
	s := found.Score(open, iis)
	fmt.Printf("%d %d %d %d\n", s.OpenHit, s.OpenFP, s.IISHit, s.IISFP)
	return nil
}

// trickle sends a few UDP datagrams a second. masscan's libpcap read can hang forever on an idle
// link after the scan (masscan issues #144, #476); a little traffic lets it finish.
func trickle(args []string) error {
	fs := flag.NewFlagSet("trickle", flag.ExitOnError)
	to := fs.String("to", "198.19.255.254:9", "UDP destination (the link's far end)")
	pps := fs.Int("pps", 4, "datagrams per second")
	ttl := fs.Duration("ttl", 10*time.Minute, "exit after this long")
	fs.Parse(args)
	ap, err := netip.ParseAddrPort(*to)
	if err != nil {
		return err
	}
	if !netip.MustParsePrefix("198.19.255.0/24").Contains(ap.Addr()) && !ap.Addr().IsLoopback() {
		return fmt.Errorf("refusing %s: only the bench link net 198.19.255.0/24 or loopback", ap)
	}
	if *pps < 1 || *pps > 100 {
		return fmt.Errorf("-pps must be 1..100")
	}
	c, err := net.Dial("udp4", ap.String())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signalCtx(*ttl)
	defer stop()
	t := time.NewTicker(time.Second / time.Duration(*pps))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.Write([]byte("redsweep-bench trickle"))
		}
	}
}

// scan is the naive Go connect scan used as the "go-connect" reference row.
func scan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	prefix := fs.String("prefix", "198.18.0.0/16", "range to scan")
	port := fs.Int("port", 80, "port")
	workers := fs.Int("c", 1000, "concurrent dials")
	rate := fs.Int("rate", 10000, "dials per second (0 = unpaced)")
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "dial timeout")
	fs.Parse(args)
	p, err := netip.ParsePrefix(*prefix)
	if err != nil {
		return err
	}
	if *workers < 1 || *workers > 15000 || *port < 1 || *port > 65535 {
		return fmt.Errorf("-c must be 1..15000 and -port 1..65535")
	}
	ctx, stop := signalCtx(0)
	defer stop()
	w := bufio.NewWriter(os.Stdout)
	n := 0
	refused, timedOut, other := benchnet.ConnectScan(ctx, p, uint16(*port), *workers, *rate, *timeout, func(a netip.Addr) {
		n++
		fmt.Fprintln(w, a)
	})
	fmt.Fprintf(os.Stderr, "scan: %d open, %d refused, %d timed out, %d other errors\n", n, refused, timedOut, other)
	return w.Flush()
}
