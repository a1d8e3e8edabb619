package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"redsweep/scanner"
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
	Addresses          uint64        `json:"addresses"`
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
	quiet := fs.Bool("quiet", false, "no progress or warnings; only the one-line summary (for cron)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (targets go in --targets or -iL)", pos[0])
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
	if o.Concurrency <= 0 || o.Rate < 0 || o.Timeout <= 0 || o.HostTimeout < 0 {
		return usagef("--concurrency and --timeout must be positive, --rate and --host-timeout not negative")
	}
	warn := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(e.stderr, "redsweep sweep: "+format+"\n", a...)
		}
	}

	db, err := store.Open(e.database())
	if err != nil {
		return err
	}
	defer db.Close()

	host, _ := os.Hostname()
	release, err := db.AcquireSweepLock(ctx, os.Getpid(), host)
	if err != nil {
		return err
	}
	defer release()

	targets, scope, err := sweepTargets(ctx, db, &o, warn)
	if err != nil {
		return err
	}
	o.Addresses = targets.Count()
	if o.Addresses == 0 {
		return errors.New("nothing to sweep: no target address is in scope")
	}

	optJSON, _ := json.Marshal(o)
	sweepID, err := db.StartSweep(ctx, string(optJSON))
	if err != nil {
		return err
	}
	prev := previousSweep(ctx, db, sweepID)

	counters := new(scanner.Counters)
	counters.Total.Store(int64(o.Addresses) * int64(len(o.Ports)))
	bar := startProgress(e.stderr, !*quiet && isTerminal(e.stderr), func() progressSnapshot {
		return progressSnapshot{done: counters.Done.Load(), total: counters.Total.Load(), open: counters.Open.Load(), flagged: counters.FoundFlagged.Load()}
	})
	w := db.NewWriter(sweepID)
	stats, runErr := scanner.Run(ctx, scanner.Options{
		Ports:       o.Ports,
		Concurrency: o.Concurrency,
		Rate:        o.Rate,
		Timeout:     o.Timeout,
		HostTimeout: o.HostTimeout,
		Confirm:     o.Confirm,
		Scope:       scope,
		Counters:    counters,
	}, targets.All(), func(r scanner.Result) { w.Add(observation(sweepID, r)) })
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
			if r.Category == store.DiffNewlyInfected {
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
		fmt.Fprintf(e.stderr, "redsweep sweep: interrupted; %d finished results kept in sweep %d\n", stats.Results, sweepID)
		return errSilent{exitInterruptedRun}
	}
	if newInf > 0 {
		return errNewInfections
	}
	return nil
}

// sweepTargets decides what to probe: the roster, --targets/-iL (inside the
// roster unless allowed), or the flagged hosts; minus --exclude. Addresses
// outside scope are dropped here with one clear message, so a mistyped /8
// does not become sixteen million out-of-scope rows.
func sweepTargets(ctx context.Context, db *store.DB, o *sweepOptions, warn func(string, ...any)) (scanner.AddrSet, *scanner.Scope, error) {
	rosterPrefixes, err := db.RosterPrefixes(ctx)
	if err != nil {
		return scanner.AddrSet{}, nil, err
	}
	roster := scanner.PrefixSet(rosterPrefixes)

	var targets scanner.AddrSet
	explicit := o.Targets != "" || o.TargetFile != ""
	switch {
	case o.Only == "flagged":
		var staleBefore time.Time
		if o.Stale > 0 {
			staleBefore = time.Now().Add(-o.Stale)
		}
		addrs, err := db.FlaggedAddrs(ctx, staleBefore)
		if err != nil {
			return targets, nil, err
		}
		rs := make([]scanner.Range, len(addrs))
		for i, a := range addrs {
			rs[i] = scanner.Range{First: a, Last: a}
		}
		targets = scanner.NewAddrSet(rs...)
	case explicit:
		if o.Targets != "" {
			if targets, err = scanner.ParseTargets(o.Targets); err != nil {
				return targets, nil, usagef("--targets: %v", err)
			}
		}
		if o.TargetFile != "" {
			f, err := os.Open(o.TargetFile)
			if err != nil {
				return targets, nil, err
			}
			fromFile, err := scanner.ReadTargets(f, o.TargetFile)
			f.Close()
			if err != nil {
				return targets, nil, err
			}
			targets = scanner.NewAddrSet(append(targets.Ranges(), fromFile.Ranges()...)...)
		}
	default:
		if roster.Empty() {
			return targets, nil, errors.New("the roster is empty: import customers first (redsweep customers import FILE.csv) or give --targets with --allow-outside-roster")
		}
		targets = roster
	}

	if explicit && !o.AllowOutsideRoster {
		inside := targets.Intersect(roster)
		if out := targets.Count() - inside.Count(); out > 0 {
			if inside.Empty() {
				return targets, nil, fmt.Errorf("refused: none of the %d target addresses is a customer address in the roster (sweep them anyway with --allow-outside-roster)", targets.Count())
			}
			warn("refused %d of %d target addresses: not in the roster (use --allow-outside-roster to include them)", out, targets.Count())
		}
		targets = inside
	}
	var exclude scanner.AddrSet
	if o.Exclude != "" {
		f, err := os.Open(o.Exclude)
		if err != nil {
			return targets, nil, err
		}
		exclude, err = scanner.ReadTargets(f, o.Exclude)
		f.Close()
		if err != nil {
			return targets, nil, err
		}
		before := targets.Count()
		targets = targets.Subtract(exclude)
		if n := before - targets.Count(); n > 0 {
			warn("excluded %d addresses listed in %s", n, o.Exclude)
		}
	}
	scope := scanner.NewScope(scanner.ScopeConfig{
		Roster:             rosterPrefixes,
		Targets:            targets,
		Exclude:            exclude,
		AllowOutsideRoster: o.AllowOutsideRoster || o.Only == "flagged",
	})
	return targets, scope, nil
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

var _ = netip.Addr{}
