package main

// End-to-end tests: simnet on loopback, the CLI as a user runs it (through
// run, in process), a real SQLite file, and ground truth to compare with.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"redsweep/internal/simnet"
)

// cli runs redsweep with args and returns exit code, stdout and stderr.
func cli(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// startNet starts a simulated network and writes its roster.
func startNet(t *testing.T, cfg simnet.Config) (*simnet.Network, string) {
	t.Helper()
	n, err := simnet.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("simnet: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	rosterPath := filepath.Join(t.TempDir(), "roster.csv")
	f, err := os.Create(rosterPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.WriteRoster(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return n, rosterPath
}

type exported struct {
	IP       string   `json:"ip"`
	Status   string   `json:"status"`
	Verdict  string   `json:"verdict"`
	Findings []string `json:"findings"`
}

func exportSweep(t *testing.T, db string) map[netip.Addr]exported {
	t.Helper()
	code, out, errs := cli(t, context.Background(), "--db", db, "export", "--format", "ndjson")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	got := map[netip.Addr]exported{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r exported
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("export output: %v", err)
		}
		got[netip.MustParseAddr(r.IP)] = r
	}
	return got
}

func TestEndToEndSweepMatchesGroundTruth(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		name := "default"
		if confirm {
			name = "confirm"
		}
		t.Run(name, func(t *testing.T) {
			prefix := "127.91.0.0/22"
			if confirm {
				prefix = "127.92.0.0/22"
			}
			n, rosterPath := startNet(t, simnet.Config{
				Prefix: netip.MustParsePrefix(prefix), Port: 18080, Seed: 7, Hosts: 120,
				SlowDelay: 200 * time.Millisecond, Hostile: true, ReadTimeout: 5 * time.Second,
			})
			db := filepath.Join(t.TempDir(), "rs.db")
			ctx := context.Background()
			if code, _, errs := cli(t, ctx, "--db", db, "customers", "import", rosterPath); code != 0 {
				t.Fatalf("import: exit %d: %s", code, errs)
			}
			args := []string{"--db", db, "sweep", "--ports", "18080", "--timeout", "3s", "--host-timeout", "8s", "--rate", "0", "--quiet"}
			// Cover both discoveries: connect here; the --confirm run takes
			// the default, a SYN scan when the test runs as root.
			if confirm {
				args = append(args, "--confirm")
			} else {
				args = append(args, "--connect")
			}
			code, out, errs := cli(t, ctx, args...)
			if code != exitNewInfections {
				t.Fatalf("first sweep: exit %d (want %d: new infections): %s%s", code, exitNewInfections, out, errs)
			}
			if !strings.HasPrefix(out, "redsweep: sweep 1 done") || strings.Count(out, "\n") != 1 {
				t.Errorf("summary should be one line starting 'redsweep: sweep 1 done', got %q", out)
			}

			got := exportSweep(t, db)
			truth := n.Truth()
			for _, tr := range truth {
				want, wantF := tr.Verdict, tr.Findings
				if confirm {
					want, wantF = tr.ConfirmVerdict, tr.ConfirmFindings
				}
				g, ok := got[tr.IP]
				if !ok {
					t.Errorf("%s (%s): no observation exported", tr.IP, tr.Personality)
					continue
				}
				if g.Verdict != string(want) {
					t.Errorf("%s (%s): verdict %s, truth %s (status %s, findings %v)", tr.IP, tr.Personality, g.Verdict, want, g.Status, g.Findings)
				}
				gf := slices.Sorted(slices.Values(g.Findings))
				wf := slices.Sorted(slices.Values(wantF))
				if !slices.Equal(gf, wf) {
					t.Errorf("%s (%s): findings %v, truth %v", tr.IP, tr.Personality, gf, wf)
				}
			}
			if len(got) != len(truth) {
				t.Errorf("exported %d observations, roster has %d addresses", len(got), len(truth))
			}

			// No program ran on a customer's machine without --confirm; never "dir".
			sawIntrusive := false
			for _, r := range n.Requests() {
				target := strings.ToLower(r.Target + r.Raw)
				intrusive := strings.Contains(target, "root.exe") || strings.Contains(target, "xxxxxxxxxx")
				if intrusive {
					sawIntrusive = true
				}
				if intrusive && !confirm {
					t.Errorf("intrusive request without --confirm: %s %s", r.Addr, r.Target)
				}
				if strings.Contains(target, "+dir") || strings.Contains(target, "c+dir") {
					t.Errorf("a directory listing was requested from %s: %s", r.Addr, r.Target)
				}
			}
			if confirm && !sawIntrusive {
				t.Error("--confirm sweep sent no confirmation probe at all")
			}

			checkCallOrder(t, db, truth, confirm)
		})
	}
}

// checkCallOrder compares `calls --format json` with the order the truth implies.
func checkCallOrder(t *testing.T, db string, truth []simnet.TruthRecord, confirm bool) {
	t.Helper()
	type group struct {
		subnet                          string
		customers, infected, vulnerable int
	}
	groups := map[string]*group{}
	customers := map[string]map[string]bool{}
	for _, tr := range truth {
		g := groups[tr.Subnet]
		if g == nil {
			g = &group{subnet: tr.Subnet}
			groups[tr.Subnet] = g
			customers[tr.Subnet] = map[string]bool{}
		}
		customers[tr.Subnet][tr.CustomerID] = true
		v := tr.Verdict
		if confirm {
			v = tr.ConfirmVerdict
		}
		switch v {
		case "infected":
			g.infected++
		case "vulnerable":
			g.vulnerable++
		}
	}
	var want []string
	var all []*group
	for s, g := range groups {
		g.customers = len(customers[s])
		if g.infected+g.vulnerable > 0 {
			all = append(all, g)
		}
	}
	slices.SortFunc(all, func(a, b *group) int {
		return cmp.Or(b.infected-a.infected, b.vulnerable-a.vulnerable, b.customers-a.customers,
			netip.MustParsePrefix(a.subnet).Addr().Compare(netip.MustParsePrefix(b.subnet).Addr()))
	})
	for _, g := range all {
		want = append(want, g.subnet)
	}

	code, out, errs := cli(t, context.Background(), "--db", db, "calls", "--format", "json")
	if code != 0 {
		t.Fatalf("calls: exit %d: %s", code, errs)
	}
	var cl struct {
		SweepID int64 `json:"sweep_id"`
		Subnets []struct {
			Subnet     string `json:"subnet"`
			Infected   int    `json:"infected"`
			Vulnerable int    `json:"vulnerable"`
			Entries    []struct {
				Verdict string `json:"verdict"`
			} `json:"entries"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatalf("calls json: %v\n%s", err, out)
	}
	var got []string
	for _, s := range cl.Subnets {
		got = append(got, s.Subnet)
		seenVulnerable := false
		for _, e := range s.Entries {
			if e.Verdict == "vulnerable" {
				seenVulnerable = true
			} else if e.Verdict == "infected" && seenVulnerable {
				t.Errorf("subnet %s: an infected entry follows a vulnerable one", s.Subnet)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("call list subnet order\n got %v\nwant %v", got, want)
	}
	if len(want) < 2 || groups[want[0]].infected == groups[want[len(want)-1]].infected {
		t.Errorf("the simulated network should make the order matter (uneven infections), got %v", want)
	}
}

func TestInterruptedSweepKeepsResultsAndLeavesNothingBehind(t *testing.T) {
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.93.0.0/22"), Port: 18081, Seed: 3, Hosts: 200,
		SlowDelay: 200 * time.Millisecond,
	})
	_ = n
	db := filepath.Join(t.TempDir(), "rs.db")
	if code, _, errs := cli(t, context.Background(), "--db", db, "customers", "import", rosterPath); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	baseGoroutines := runtime.NumGoroutine()
	baseFDs := countFDs(t)

	// Pace the sweep so it is surely mid-way when cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(700 * time.Millisecond)
		cancel()
	}()
	code, _, errs := cli(t, ctx, "--db", db, "sweep", "--ports", "18081", "--rate", "300", "--timeout", "1s", "--quiet")
	if code != exitInterruptedRun {
		t.Fatalf("interrupted sweep: exit %d, want %d; stderr %s", code, exitInterruptedRun, errs)
	}
	code, out, errs := cli(t, context.Background(), "--db", db, "sweeps")
	if code != 0 || !strings.Contains(out, "interrupted") {
		t.Errorf("sweeps should list the interrupted sweep: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, context.Background(), "--db", db, "calls"); code != 0 {
		t.Errorf("calls after an interrupted sweep: exit %d: %s", code, errs)
	}
	got := exportSweep(t, db)
	if len(got) == 0 || len(got) >= 1200 {
		t.Errorf("interrupted sweep kept %d results; want some, not all", len(got))
	}

	// Nothing left behind: goroutines and sockets settle back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fds := runtime.NumGoroutine(), countFDs(t)
		if g <= baseGoroutines+2 && fds <= baseFDs+2 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("left behind: %d goroutines (base %d), %d fds (base %d)\n%s", g, baseGoroutines, fds, baseFDs, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

func TestBadInputGivesOneLineErrorAndNothingHalfWritten(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rs.db")
	bad := filepath.Join(dir, "bad.csv")
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(bad, []byte("ip,customer_id,name,phone\n127.0.0.1,C1,Ann,555-0100\n10.0.0.300,C2,Bob,555-0101\n"), 0o644)
	os.WriteFile(good, []byte("ip,customer_id,name,phone\n127.0.0.1,C1,Ann,555-0100\n"), 0o644)
	// A good roster first, so the bad one has something to spoil.
	if code, _, errs := cli(t, context.Background(), "--db", db, "customers", "import", good); code != 0 {
		t.Fatalf("good import: %s", errs)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"bad roster row", []string{"--db", db, "customers", "import", bad}, exitError, []string{"bad.csv line 3", `field "ip"`, "nothing was imported"}},
		{"host deadline shorter than a connection's", []string{"--db", db, "sweep", "--timeout", "3s", "--host-timeout", "1s"}, exitUsage, []string{"--host-timeout"}},
		{"whole internet", []string{"--db", db, "sweep", "--targets", "0.0.0.0/0", "--allow-outside-roster"}, exitUsage, []string{"refused", "/8"}},
		{"negative port", []string{"--db", db, "sweep", "--ports", "-1"}, exitUsage, []string{`"-1" is not a port`}},
		{"unwritable database path", []string{"--db", filepath.Join(dir, "no", "such", "dir", "x.db"), "customers", "import", good}, exitError, []string{"x.db"}},
		{"unknown flag", []string{"--db", db, "sweep", "--frobnicate"}, exitUsage, []string{"frobnicate"}},
		{"unknown command", []string{"frobnicate"}, exitUsage, []string{"unknown command"}},
		{"bad outcome", []string{"--db", db, "mark", "127.0.0.1", "--outcome", "maybe"}, exitUsage, []string{"--outcome"}},
		{"targets outside the roster", []string{"--db", db, "sweep", "--targets", "127.200.0.0/24"}, exitError, []string{"roster"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := cli(t, context.Background(), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errs)
			}
			for _, c := range tc.contains {
				if !strings.Contains(errs, c) {
					t.Errorf("stderr %q does not mention %q", errs, c)
				}
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("want a one-line error, got %q", errs)
			}
		})
	}
	// The bad import wrote nothing: its good first row (C1 again) and its
	// other rows left no trace; C2 is unknown.
	code, out, errs := cli(t, context.Background(), "--db", db, "history", "C2")
	if code != exitError || !strings.Contains(errs, "neither an IP address nor a customer id") {
		t.Errorf("after a failed import C2 must be unknown: exit %d, %q %q", code, out, errs)
	}
	// Reading commands never create a database by accident.
	missing := filepath.Join(dir, "typo.db")
	if code, _, errs := cli(t, context.Background(), "--db", missing, "calls"); code != exitError || !strings.Contains(errs, "does not exist") {
		t.Errorf("calls on a missing database: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("calls created the missing database")
	}
}
