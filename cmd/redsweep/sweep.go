package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"redsweep/scanner"
	"redsweep/scanner/syn"
	"redsweep/store"
	"redsweep/triage"
)

// sweepOptions is what a sweep ran with, stored as JSON in the sweep row so
// an operator (and a later --resume) can see exactly what was done.
type sweepOptions struct {
	Targets            string        `json:"targets,omitempty"`
	TargetFile         string        `json:"target_file,omitempty"`
	Exclude            string        `json:"exclude,omitempty"`
	Only               string        `json:"only,omitempty"`
	Stale              time.Duration `json:"stale,omitempty"`
	AllowOutsideRoster bool          `json:"allow_outside_roster,omitempty"`
	Ports              []uint16      `json:"ports"`
	Concurrency        int           `json:"concurrency"`
	Rate               int           `json:"rate"`
	Timeout            time.Duration `json:"timeout"`
	HostTimeout        time.Duration `json:"host_timeout"`
	Confirm            bool          `json:"confirm,omitempty"`
	Connect            bool          `json:"connect,omitempty"`
	DiscoveryOnly      bool          `json:"discovery_only,omitempty"`
	SubnetRate         int           `json:"subnet_rate,omitempty"`
	Discovery          string        `json:"discovery"` // "syn" or "connect": what actually ran
	Addresses          uint64        `json:"addresses"`
	// Seed selects the random target order; Ranges is the target set after
	// scope and exclusions. Together they let --resume continue exactly.
	Seed   uint64   `json:"seed"`
	Ranges []string `json:"ranges"`
}

func runSweep(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sweep", "[flags]")
	var o sweepOptions
	fs.StringVar(&o.Targets, "targets", "", "comma-separated addresses, CIDR blocks or ranges to sweep (default: the whole roster)")
	fs.StringVar(&o.TargetFile, "iL", "", "read targets from `FILE`, one address/CIDR/range per line")
	fs.StringVar(&o.Exclude, "exclude", "", "never probe the addresses listed in `FILE` (same format as -iL)")
	fs.StringVar(&o.Only, "only", "", "\"flagged\": re-probe only infected/vulnerable hosts of the latest results (plus --stale ones)")
	fs.DurationVar(&o.Stale, "stale", 0, "with --only flagged, also re-probe hosts last probed longer ago than `D`")
	fs.BoolVar(&o.AllowOutsideRoster, "allow-outside-roster", false, "allow --targets/-iL addresses that are not customer addresses")
	ports := fs.String("ports", "80", "TCP ports to probe, e.g. 80,8080 or 80-81")
	fs.IntVar(&o.Concurrency, "concurrency", scanner.DefaultConcurrency, "host:ports in flight at once")
	fs.IntVar(&o.Rate, "rate", 2000, "new connections per second, spread evenly (0 = unpaced)")
	fs.DurationVar(&o.Timeout, "timeout", scanner.DefaultTimeout, "per-connection deadline")
	fs.DurationVar(&o.HostTimeout, "host-timeout", 0, "absolute deadline for all probes on one host:port (default 4×timeout+1s)")
	fs.BoolVar(&o.Confirm, "confirm", false, "also run checks that make the customer's machine run a program (Code Red II root.exe 'ver', MS01-033 crash test)")
	fs.BoolVar(&o.DiscoveryOnly, "discovery-only", false, "only find open ports; send no HTTP probe (verdicts stay none)")
	fs.BoolVar(&o.Connect, "connect", false, "find open ports with full TCP connects even when a SYN scan is possible (root or CAP_NET_RAW)")
	fs.IntVar(&o.SubnetRate, "subnet-rate", syn.DefaultSubnetRate, "SYN discovery: at most this many SYNs per second to any one /24")
	quiet := fs.Bool("quiet", false, "no progress; only the one-line summary and scope refusals (for cron)")
	seed := fs.Uint64("seed", 0, "seed of the random target order (default: a new random seed)")
	resume := fs.String("resume", "", "continue interrupted sweep `ID` (or \"latest\") with its original options and scope")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (targets go in --targets or -iL)", pos[0])
	}
	if *resume != "" {
		if !onlyFlags(args, "resume", "quiet", "db") {
			return usagef("--resume continues a sweep with its original options; give only --resume (and --quiet)")
		}
		return resumeSweep(ctx, e, *resume, *quiet)
	}
	if o.Ports, err = parsePorts(*ports); err != nil {
		return usagef("--ports: %v", err)
	}
	if o.Only != "" && o.Only != "flagged" {
		return usagef("--only %q: the only selection is \"flagged\"", o.Only)
	}
	if o.Only != "" && (o.Targets != "" || o.TargetFile != "") {
		return usagef("--only flagged chooses its own targets; drop --targets/-iL")
	}
	if o.Stale != 0 && o.Only == "" {
		return usagef("--stale goes with --only flagged")
	}
	if o.Concurrency <= 0 || o.Rate < 0 || o.Timeout <= 0 || o.HostTimeout < 0 || o.SubnetRate < 0 {
		return usagef("--concurrency and --timeout must be positive, --rate, --subnet-rate and --host-timeout not negative")
	}
	if o.HostTimeout > 0 && o.HostTimeout < o.Timeout {
		return usagef("--host-timeout %v is shorter than --timeout %v: it bounds all probes on a host, so it must be at least one connection's deadline", o.HostTimeout, o.Timeout)
	}
	// Scope refusals are about the operator's own input: they are printed
	// even with --quiet, since a silently shrunk sweep is worse than mail.
	warn := func(format string, a ...any) {
		fmt.Fprintf(e.stderr, "redsweep sweep: "+format+"\n", a...)
	}

	db, unlock, err := openForSweep(ctx, e)
	if err != nil {
		return err
	}
	defer unlock()

	targets, exclude, err := sweepTargets(ctx, db, &o, warn)
	if err != nil {
		return err
	}
	if targets.Empty() {
		return errors.New("nothing to sweep: no target address is in scope")
	}
	o.Addresses = targets.Count()
	o.Seed = *seed
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	order, err := scanner.NewOrder(targets, o.Seed)
	if err != nil {
		return err
	}
	for _, r := range targets.Ranges() {
		o.Ranges = append(o.Ranges, r.String())
	}
	subnets, err := db.RosterSubnets(ctx)
	if err != nil {
		return err
	}
	o.Discovery = chooseDiscovery(o, targets, warn, *quiet)
	optJSON, _ := json.Marshal(o)
	sweepID, err := db.StartSweep(ctx, string(optJSON))
	if err != nil {
		return err
	}
	scope := scanner.NewScope(scanner.ScopeConfig{Targets: targets, Exclude: exclude, Subnets: subnets, AllowOutsideRoster: true})
	return executeSweep(ctx, e, db, sweepID, o, order, scope, 0, nil, *quiet)
}

// resumeSweep continues an interrupted (or crashed) sweep: same options,
// same target set and order, starting at its checkpoint and skipping what
// was finished beyond it.
func resumeSweep(ctx context.Context, e *env, which string, quiet bool) error {
	db, unlock, err := openForSweep(ctx, e)
	if err != nil {
		return err
	}
	defer unlock()
	id, err := resolveSweep(ctx, db, which)
	if err != nil {
		return err
	}
	sw, err := db.Sweep(ctx, id)
	if err != nil {
		return err
	}
	var o sweepOptions
	if err := json.Unmarshal([]byte(sw.Options), &o); err != nil || len(o.Ranges) == 0 {
		return fmt.Errorf("sweep %d cannot be resumed: it did not record its target set", id)
	}
	var rs []scanner.Range
	for _, s := range o.Ranges {
		r, err := scanner.ParseRange(s)
		if err != nil {
			return fmt.Errorf("sweep %d: recorded range %q: %w", id, s, err)
		}
		rs = append(rs, r)
	}
	targets := scanner.NewAddrSet(rs...)
	order, err := scanner.NewOrder(targets, o.Seed)
	if err != nil {
		return fmt.Errorf("sweep %d: %w", id, err)
	}
	// The exclusions may have grown since: honour the file as it is now.
	var exclude scanner.AddrSet
	if o.Exclude != "" {
		if exclude, err = readTargetFile(o.Exclude); err != nil {
			return fmt.Errorf("sweep %d: exclusions: %w", id, err)
		}
	}
	subnets, err := db.RosterSubnets(ctx)
	if err != nil {
		return err
	}
	if _, err := db.ResumeSweep(ctx, id); err != nil {
		return err
	}
	done, err := db.FinishedPositions(ctx, id, sw.Checkpoint)
	if err != nil {
		return err
	}
	scope := scanner.NewScope(scanner.ScopeConfig{Targets: targets, Exclude: exclude, Subnets: subnets, AllowOutsideRoster: true})
	if !quiet {
		fmt.Fprintf(e.stderr, "redsweep sweep: resuming sweep %d at position %d of %d (%d finished beyond it)\n", id, sw.Checkpoint, targets.Count(), len(done))
	}
	return executeSweep(ctx, e, db, id, o, order, scope, uint64(sw.Checkpoint), done, quiet)
}

// executeSweep runs the scanner over targets in the sweep's random order,
// from position start, writing results and checkpoints, and reports.
func executeSweep(ctx context.Context, e *env, db *store.DB, sweepID int64, o sweepOptions, order *scanner.Order,
	scope *scanner.Scope, start uint64, done map[int64]bool, quiet bool) error {
	var already []uint64
	for p := range done {
		already = append(already, uint64(p))
	}
	cp := scanner.NewCheckpointer(start, len(o.Ports), already)
	prev := previousSweep(ctx, db, sweepID)

	remaining := int64(order.Len()) - int64(start) - int64(len(already))
	counters := new(scanner.Counters)
	counters.Total.Store(max(remaining, 0) * int64(len(o.Ports)))
	bar := startProgress(e.stderr, !quiet && isTerminal(e.stderr), func() progressSnapshot {
		return progressSnapshot{done: counters.Done.Load(), total: counters.Total.Load(), open: counters.Open.Load(), flagged: counters.FoundFlagged.Load()}
	})
	var discoverer scanner.Discoverer // nil: the scanner's connect discovery
	if o.Discovery == "syn" {
		rate := o.Rate
		if rate == 0 {
			rate = syn.DefaultRate
		}
		discoverer = &syn.Scanner{Rate: rate, SubnetRate: o.SubnetRate, Cooldown: min(o.Timeout, syn.DefaultCooldown)}
	}
	w := db.NewWriter(sweepID)
	stats, runErr := scanner.Run(ctx, scanner.Options{
		Discoverer:    discoverer,
		Ports:         o.Ports,
		Concurrency:   o.Concurrency,
		Rate:          o.Rate,
		Timeout:       o.Timeout,
		HostTimeout:   o.HostTimeout,
		Confirm:       o.Confirm,
		DiscoveryOnly: o.DiscoveryOnly,
		Scope:         scope,
		Counters:      counters,
	}, order.Seq(start, func(p uint64) bool { return done[int64(p)] }), func(r scanner.Result) {
		ob := observation(sweepID, r)
		ob.Pos = -1
		if p, ok := order.Pos(r.Addr); ok {
			ob.Pos = int64(p)
		}
		w.Add(ob)
		// The writer commits a checkpoint with the results before it, so a
		// kill -9 never leaves a checkpoint ahead of what it vouches for.
		if ob.Pos >= 0 {
			if mark, moved := cp.Done(uint64(ob.Pos)); moved {
				w.Checkpoint(int64(mark))
			}
		}
	})
	bar.Stop()
	writeErr := w.Close()

	state := store.SweepDone
	interrupted := runErr != nil && ctx.Err() != nil
	switch {
	case interrupted:
		state = store.SweepInterrupted
	case runErr != nil || writeErr != nil:
		state = store.SweepFailed
	}
	// A cancelled ctx must not stop us recording how the sweep ended.
	finishCtx := context.WithoutCancel(ctx)
	if err := db.FinishSweep(finishCtx, sweepID, state, int64(o.Addresses)); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		return fmt.Errorf("sweep %d: saving results: %w", sweepID, writeErr)
	}
	if runErr != nil && !interrupted {
		return fmt.Errorf("sweep %d: %w", sweepID, runErr)
	}

	newInf, liars := 0, 0
	if prev > 0 && !interrupted {
		rows, err := db.Diff(finishCtx, prev, sweepID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Category == triage.NewlyInfected {
				newInf++
			}
			if r.PatchedButInfected {
				liars++
			}
		}
	} else if prev == 0 {
		newInf = int(stats.Verdicts[triage.Infected.String()])
	}
	summary := sweepSummary(sweepID, state, stats, newInf, prev)
	if liars > 0 {
		summary += fmt.Sprintf("; %d MARKED PATCHED BUT STILL INFECTED (redsweep diff)", liars)
	}
	fmt.Fprintln(e.stdout, summary)
	if interrupted {
		fmt.Fprintf(e.stderr, "redsweep sweep: interrupted; %d finished results kept in sweep %d (continue with: redsweep sweep --resume %d)\n", stats.Results, sweepID, sweepID)
		return errSilent{exitInterruptedRun}
	}
	if newInf > 0 {
		return errNewInfections
	}
	return nil
}

// chooseDiscovery picks a SYN scan where it can run (raw sockets, IPv4
// targets) unless --connect asks otherwise, and says why when it cannot.
func chooseDiscovery(o sweepOptions, targets scanner.AddrSet, warn func(string, ...any), quiet bool) string {
	if o.Connect {
		return "connect"
	}
	for _, r := range targets.Ranges() {
		if !r.First.Is4() {
			if !quiet {
				warn("IPv6 targets: using connect discovery (SYN discovery is IPv4 only)")
			}
			return "connect"
		}
	}
	if err := syn.Available(); err != nil {
		return "connect" // the normal case without root; not worth a warning
	}
	return "syn"
}

// maxSweepAddresses bounds one sweep: a /8. Larger target lists are almost
// always a typo (0.0.0.0/0 with --allow-outside-roster), and a sweep's
// results (one row per target) must fit one database.
const maxSweepAddresses = 1 << 24

var allIPv4 = scanner.NewAddrSet(scanner.Range{First: netip.IPv4Unspecified(), Last: netip.AddrFrom4([4]byte{255, 255, 255, 255})})

// openForSweep opens the database and takes the sweep lock; unlock releases
// both.
func openForSweep(ctx context.Context, e *env) (*store.DB, func(), error) {
	db, err := openExisting(e)
	if err != nil {
		return nil, nil, err
	}
	release, err := lockSweeps(ctx, e, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, func() { release(); db.Close() }, nil
}

// lockSweeps takes the database's one-sweep lock (a dead holder's is taken
// over) and marks sweeps left "running" by a crashed process interrupted,
// so they can be resumed and are not shown as running forever.
func lockSweeps(ctx context.Context, e *env, db *store.DB) (func() error, error) {
	host, _ := os.Hostname()
	release, err := db.AcquireSweepLock(ctx, os.Getpid(), host)
	if err != nil {
		return nil, err
	}
	if n, err := db.MarkAbandonedSweeps(ctx); err != nil {
		release()
		return nil, err
	} else if n > 0 {
		fmt.Fprintf(e.stderr, "redsweep sweep: %d sweep(s) left running by a process that died are now marked interrupted (redsweep sweep --resume ID continues one)\n", n)
	}
	return release, nil
}

// onlyFlags reports whether args set no flag other than the named ones.
func onlyFlags(args []string, allowed ...string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !slices.Contains(allowed, name) {
			return false
		}
		if !hasValue && name != "quiet" {
			i++ // the flag's value
		}
	}
	return true
}

// rangesText names the first n ranges of a set for a message.
func rangesText(s scanner.AddrSet, n int) string {
	rs := s.Ranges()
	var parts []string
	for i, r := range rs {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-n))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

func readTargetFile(path string) (scanner.AddrSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanner.AddrSet{}, err
	}
	defer f.Close()
	return scanner.ReadTargets(f, path)
}

// sweepTargets decides what to probe: the roster, --targets/-iL (inside the
// roster unless allowed), or the flagged hosts; minus --exclude. Addresses
// outside scope are dropped here with one clear message, so a mistyped /8
// does not become sixteen million out-of-scope rows.
func sweepTargets(ctx context.Context, db *store.DB, o *sweepOptions, warn func(string, ...any)) (targets, exclude scanner.AddrSet, err error) {
	rosterPrefixes, err := db.RosterPrefixes(ctx)
	if err != nil {
		return targets, exclude, err
	}
	roster := scanner.PrefixSet(rosterPrefixes)

	explicit := o.Targets != "" || o.TargetFile != ""
	switch {
	case o.Only == "flagged":
		var staleBefore time.Time
		if o.Stale > 0 {
			staleBefore = time.Now().Add(-o.Stale)
		}
		addrs, err := db.FlaggedAddrs(ctx, staleBefore)
		if err != nil {
			return targets, exclude, err
		}
		rs := make([]scanner.Range, len(addrs))
		for i, a := range addrs {
			rs[i] = scanner.Range{First: a, Last: a}
		}
		targets = scanner.NewAddrSet(rs...)
	case explicit:
		if o.Targets != "" {
			if targets, err = scanner.ParseTargets(o.Targets); err != nil {
				return targets, exclude, usagef("--targets: %v", err)
			}
		}
		if o.TargetFile != "" {
			fromFile, err := readTargetFile(o.TargetFile)
			if err != nil {
				return targets, exclude, err
			}
			targets = scanner.NewAddrSet(append(targets.Ranges(), fromFile.Ranges()...)...)
		}
	default:
		if roster.Empty() {
			return targets, exclude, errors.New("the roster is empty: import customers first (redsweep customers import FILE.csv) or give --targets with --allow-outside-roster")
		}
		targets = roster.Intersect(allIPv4)
		if v6 := roster.Subtract(allIPv4); !v6.Empty() {
			warn("%d IPv6 customer blocks are in the roster but not swept: IPv6 sweeping is not supported yet (give small IPv6 ranges with --targets)", len(v6.Ranges()))
		}
		if targets.Empty() {
			return targets, exclude, errors.New("the roster has no IPv4 customer addresses to sweep")
		}
	}

	if explicit && !o.AllowOutsideRoster {
		inside := targets.Intersect(roster)
		if out := targets.Count() - inside.Count(); out > 0 {
			if inside.Empty() {
				return targets, exclude, fmt.Errorf("refused: none of the %d target addresses is a customer address in the roster (sweep them anyway with --allow-outside-roster)", targets.Count())
			}
			warn("refused %d of %d target addresses: not in the roster (use --allow-outside-roster to include them)", out, targets.Count())
		}
		targets = inside
	}
	reserved := targets.Intersect(scanner.AlwaysRefused())
	if n := targets.Count() - reserved.Count(); n > maxSweepAddresses {
		return targets, exclude, usagef("refused: %d target addresses is more than one sweep takes (%d, a /8); split it into several sweeps", n, uint64(maxSweepAddresses))
	}
	if !reserved.Empty() {
		warn("refused %d target addresses that are never swept (multicast, broadcast, 0.0.0.0/8, 240.0.0.0/4): %s",
			reserved.Count(), rangesText(reserved, 3))
		targets = targets.Subtract(reserved)
	}
	if o.Exclude != "" {
		if exclude, err = readTargetFile(o.Exclude); err != nil {
			return targets, exclude, err
		}
		before := targets.Count()
		targets = targets.Subtract(exclude)
		if n := before - targets.Count(); n > 0 {
			warn("excluded %d addresses listed in %s", n, o.Exclude)
		}
	}
	return targets, exclude, nil
}

// previousSweep is the latest finished sweep before id, or 0.
func previousSweep(ctx context.Context, db *store.DB, id int64) int64 {
	sweeps, err := db.ListSweeps(ctx)
	if err != nil {
		return 0
	}
	var best int64
	for _, s := range sweeps {
		if s.ID < id && s.ID > best && s.State == store.SweepDone {
			best = s.ID
		}
	}
	return best
}

func sweepSummary(id int64, state string, st scanner.Stats, newInf int, prev int64) string {
	v := func(x triage.Verdict) int64 { return st.Verdicts[x.String()] }
	news := fmt.Sprintf("%d new", newInf)
	if prev == 0 {
		news = "first sweep"
	}
	return fmt.Sprintf("redsweep: sweep %d %s in %s: %d targets, %d open; infected %d (%s), vulnerable %d, iis %d, other web %d",
		id, state, st.Duration.Round(100*time.Millisecond), st.Results, st.Open,
		v(triage.Infected), news, v(triage.Vulnerable), v(triage.IIS), v(triage.Web))
}

// observation converts a scanner result into the row the store keeps.
func observation(sweepID int64, r scanner.Result) store.Observation {
	o := store.Observation{
		SweepID:  sweepID,
		Addr:     r.Addr,
		Port:     r.Port,
		Status:   r.Status,
		Error:    r.Err,
		Verdict:  r.Verdict,
		Findings: r.Findings,
		Seen:     r.Started,
		Duration: r.Duration,
		Server:   r.Print.Server,
		Product:  r.Print.Product,
	}
	if r.Print.Version != nil {
		o.Version = *r.Print.Version
	}
	if r.Print.OS != nil {
		o.OS = *r.Print.OS
	}
	for _, x := range r.Exchanges {
		if x.Probe == triage.ProbeRoot {
			o.StatusLine = x.StatusLine
			break
		}
	}
	return o
}

// parsePorts reads "80", "80,8080" or "8000-8010".
func parsePorts(s string) ([]uint16, error) {
	var out []uint16
	seen := map[uint16]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.HasPrefix(part, "-") {
			return nil, fmt.Errorf("%q is not a port number (1-65535)", part)
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("%q is not a port number (1-65535)", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a port range", part)
			}
		}
		for p := a; p <= b; p++ {
			if !seen[uint16(p)] {
				seen[uint16(p)] = true
				out = append(out, uint16(p))
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no ports given")
	}
	return out, nil
}
