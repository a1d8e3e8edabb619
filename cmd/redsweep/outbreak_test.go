package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"redsweep/internal/simnet"
)

// TestSimulatedOutbreak is the support desk's day: sweep, call and mark
// customers, some clean their PCs, cron rescans the flagged hosts, and diff
// says exactly who was cleaned and who claims "patched" but is still infected.
func TestSimulatedOutbreak(t *testing.T) {
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.98.0.0/22"), Port: 18098, Seed: 11, Hosts: 150,
		SlowDelay: 100 * time.Millisecond,
	})
	db := filepath.Join(t.TempDir(), "rs.db")
	ctx := context.Background()
	mustRun := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, ctx, append([]string{"--db", db}, args...)...)
		if code != wantCode {
			t.Fatalf("redsweep %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out, errs)
		}
		return out
	}
	sweep := []string{"sweep", "--ports", "18098", "--timeout", "3s", "--host-timeout", "8s", "--rate", "0", "--quiet"}
	mustRun(0, "customers", "import", rosterPath)
	mustRun(exitNewInfections, sweep...)

	var infected []simnet.Host
	for _, h := range n.Hosts() {
		if h.Verdict == "infected" && h.Block.Bits() == h.Addr.BitLen() {
			infected = append(infected, h)
		}
	}
	if len(infected) < 4 {
		t.Fatalf("simnet made %d infected single-address hosts; the test needs 4", len(infected))
	}
	cured := infected[:2]     // cleaned their PCs
	liar := infected[2]       // says "patched", still infected
	untouched := infected[3:] // never called back

	// The support desk marks outcomes: one by IP, one by customer id, one in a batch file.
	mustRun(0, "mark", cured[0].Addr.String(), "--outcome", "patched", "--note", "ran the removal tool")
	mustRun(0, "mark", cured[1].CustomerID, "--outcome", "patched")
	batch := filepath.Join(t.TempDir(), "shift.csv")
	writeFile(t, batch, "target,outcome,note\n"+liar.Addr.String()+",patched,customer says it is fixed\n")
	mustRun(0, "mark", "--from", batch)

	for _, h := range cured {
		if err := n.Cure(h.Addr); err != nil {
			t.Fatalf("cure %s: %v", h.Addr, err)
		}
	}
	// Nothing newly infected on the rescan: exit 0.
	out := mustRun(0, append(slices.Clone(sweep), "--only", "flagged")...)
	if !strings.Contains(out, "sweep 2 done") || !strings.Contains(out, "1 MARKED PATCHED BUT STILL INFECTED") {
		t.Errorf("rescan summary: %q", out)
	}

	var d struct {
		FromSweep          int64 `json:"from_sweep"`
		ToSweep            int64 `json:"to_sweep"`
		PatchedButInfected []struct {
			IP string `json:"ip"`
		} `json:"patched_but_infected"`
		Subnets []struct {
			Entries []struct {
				Category string `json:"category"`
				IP       string `json:"ip"`
			} `json:"entries"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(mustRun(0, "diff", "--format", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.FromSweep != 1 || d.ToSweep != 2 {
		t.Errorf("diff compared %d→%d, want 1→2", d.FromSweep, d.ToSweep)
	}
	byCat := map[string][]string{}
	for _, s := range d.Subnets {
		for _, e := range s.Entries {
			byCat[e.Category] = append(byCat[e.Category], e.IP)
		}
	}
	ips := func(hs ...simnet.Host) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Addr.String())
		}
		slices.Sort(out)
		return out
	}
	for c := range byCat {
		slices.Sort(byCat[c])
	}
	if got, want := byCat["cleaned"], ips(cured...); !slices.Equal(got, want) {
		t.Errorf("cleaned: got %v, want exactly the cured hosts %v", got, want)
	}
	if got, want := byCat["still-infected"], ips(append([]simnet.Host{liar}, untouched...)...); !slices.Equal(got, want) {
		t.Errorf("still infected: got %v, want %v", got, want)
	}
	if len(byCat["newly-infected"]) != 0 {
		t.Errorf("newly infected on a rescan with no new worm: %v", byCat["newly-infected"])
	}
	if len(d.PatchedButInfected) != 1 || d.PatchedButInfected[0].IP != liar.Addr.String() {
		t.Errorf("patched but still infected: got %+v, want only %s", d.PatchedButInfected, liar.Addr)
	}
	table := mustRun(0, "diff")
	if !strings.Contains(table, liar.Addr.String()) || !strings.Contains(strings.ToUpper(table), "PATCHED") {
		t.Errorf("the table diff must call out %s (marked patched, still infected):\n%s", liar.Addr, table)
	}

	// The call list no longer has the cured hosts; the liar is on it with the outcome.
	calls := mustRun(0, "calls", "--format", "csv")
	for _, h := range cured {
		if strings.Contains(calls, ","+h.Addr.String()+",") {
			t.Errorf("cured host %s still on the call list", h.Addr)
		}
	}
	if !strings.Contains(calls, ","+liar.Addr.String()+",") || !strings.Contains(calls, "patched") {
		t.Errorf("the host marked patched but still infected must stay on the call list with its outcome")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
