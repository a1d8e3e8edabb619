package report

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

func TestCategory(t *testing.T) {
	const (
		inf, vul, iis, none = triage.Infected, triage.Vulnerable, triage.IIS, triage.None
		ok, refused, gone   = store.StatusSuccess, store.StatusRefused, store.StatusTimeout
	)
	tests := []struct {
		from, to triage.Verdict
		status   string
		want     string
	}{
		{vul, inf, ok, NewlyInfected},
		{none, inf, ok, NewlyInfected},
		{inf, inf, ok, StillInfected},
		{inf, inf, "", StillInfected}, // not re-probed: the old evidence stands
		{inf, iis, ok, Cleaned},
		{inf, vul, ok, Cleaned}, // worm gone, hole still open: listed as cleaned, to_verdict says vulnerable
		{inf, none, refused, Cleaned},
		{inf, none, gone, Unconfirmed}, // switched off is not cleaned
		{inf, none, store.StatusIOTimeout, Unconfirmed},
		{inf, none, "", Unconfirmed},
		{iis, vul, ok, NewlyVulnerable},
		{none, vul, ok, NewlyVulnerable},
		{vul, vul, ok, ""},
		{vul, iis, ok, NoLongerVulnerable}, // patched, or the .ida mapping removed
		{vul, none, gone, ""},              // silent: no proof of patching
		{iis, iis, ok, ""},
	}
	for _, tt := range tests {
		r := DiffRow{From: tt.from, To: tt.to, ToStatus: tt.status}
		if got := Category(r); got != tt.want {
			t.Errorf("Category(%v → %v, %q) = %q, want %q", tt.from, tt.to, tt.status, got, tt.want)
		}
	}
}

func TestPatchedButInfected(t *testing.T) {
	seen := now.Add(-time.Hour)
	tests := []struct {
		name    string
		outcome string
		at      time.Time
		to      triage.Verdict
		want    bool
	}{
		{"marked before the sweep, still infected", "patched", seen.Add(-time.Hour), triage.Infected, true},
		{"marked at the sweep's moment", "patched", seen, triage.Infected, true},
		{"marked after the sweep: not checked yet", "patched", seen.Add(time.Minute), triage.Infected, false},
		{"marked patched and clean", "patched", seen.Add(-time.Hour), triage.IIS, false},
		{"other outcome", "refused", seen.Add(-time.Hour), triage.Infected, false},
		{"no time recorded", "patched", time.Time{}, triage.Infected, false},
	}
	for _, tt := range tests {
		r := DiffRow{From: triage.Infected, To: tt.to, ToSeen: seen, LastOutcome: tt.outcome, LastOutcomeAt: tt.at}
		if got := PatchedButInfected(r); got != tt.want {
			t.Errorf("%s: PatchedButInfected = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func drow(id, ip, subnet string, customers int, from, to triage.Verdict, status string) DiffRow {
	return DiffRow{
		CustomerID: id, Name: "Customer " + id, Phone: "555-" + id, IP: netip.MustParseAddr(ip),
		Subnet: netip.MustParsePrefix(subnet), SubnetCustomers: customers, From: from, To: to,
		ToStatus: status, ToSeen: ago(time.Hour),
	}
}

func patched(r DiffRow, before time.Duration) DiffRow {
	r.LastOutcome, r.LastOutcomeAt = "patched", ago(before)
	return r
}

// fixtureDiffRows: expected subnet order
//
//	10.0.3.0/24 2 infected now (1 new)   — most infected now
//	10.0.1.0/24 2 infected now (0 new), 1 patched-but-infected
//	10.0.2.0/24 0 infected now, 1 newly vulnerable, 200 customers
//	10.0.4.0/24 0 infected now, 1 newly vulnerable, 90 customers
//	10.0.5.0/24 only cleaned and unconfirmed
func fixtureDiffRows() []DiffRow {
	const inf, vul, iis, none = triage.Infected, triage.Vulnerable, triage.IIS, triage.None
	ok := store.StatusSuccess
	r := []DiffRow{
		patched(drow("0101", "10.0.1.10", "10.0.1.0/24", 120, inf, inf, ok), 3*time.Hour),
		drow("0102", "10.0.1.9", "10.0.1.0/24", 120, inf, inf, ok),
		patched(drow("0103", "10.0.1.2", "10.0.1.0/24", 120, inf, iis, ok), 3*time.Hour),
		drow("0301", "10.0.3.20", "10.0.3.0/24", 250, vul, inf, ok),
		drow("0302", "10.0.3.4", "10.0.3.0/24", 250, inf, inf, ok),
		drow("0201", "10.0.2.8", "10.0.2.0/24", 200, iis, vul, ok),
		drow("0202", "10.0.2.9", "10.0.2.0/24", 200, vul, vul, ok), // unchanged: not listed
		drow("0401", "10.0.4.1", "10.0.4.0/24", 90, none, vul, ok),
		drow("0501", "10.0.5.3", "10.0.5.0/24", 90, inf, none, store.StatusTimeout),
		drow("0502", "10.0.5.4", "10.0.5.0/24", 90, inf, vul, ok),
	}
	r[0].Findings = []triage.Finding{{Code: triage.IdaMapped}, {Code: triage.CodeRed2Backdoor}}
	r[0].Name = "=Mallory & Co <b>"
	return r
}

func TestDiffOrder(t *testing.T) {
	for _, in := range [][]DiffRow{fixtureDiffRows(), reversed(fixtureDiffRows())} {
		d := BuildDiff(in, 11, 12, now)
		var subnets []string
		for _, g := range d.Subnets {
			subnets = append(subnets, g.Subnet)
		}
		want := []string{"10.0.3.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.4.0/24", "10.0.5.0/24"}
		if !slices.Equal(subnets, want) {
			t.Errorf("subnets = %v, want %v", subnets, want)
		}
		var first []string
		for _, e := range d.Subnets[1].Entries {
			first = append(first, e.IP+" "+e.Category)
		}
		// Patched-but-infected leads its subnet even though 10.0.1.9 sorts first by IP.
		if w := []string{"10.0.1.10 still-infected", "10.0.1.9 still-infected", "10.0.1.2 cleaned"}; !slices.Equal(first, w) {
			t.Errorf("10.0.1.0/24 entries = %v, want %v", first, w)
		}
		if len(d.PatchedButInfected) != 1 || d.PatchedButInfected[0].IP != "10.0.1.10" {
			t.Errorf("patched-but-infected = %+v, want only 10.0.1.10", d.PatchedButInfected)
		}
		wantCounts := map[string]int{NewlyInfected: 1, StillInfected: 3, Cleaned: 2, Unconfirmed: 1, NewlyVulnerable: 2}
		for c, n := range wantCounts {
			if d.Counts[c] != n {
				t.Errorf("count %s = %d, want %d", c, d.Counts[c], n)
			}
		}
	}
}

func TestDiffGolden(t *testing.T) {
	for _, tt := range []struct{ format, file string }{
		{"table", "diff.txt"},
		{"csv", "diff.csv"},
		{"json", "diff.json"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteDiff(&buf, tt.format, BuildDiff(fixtureDiffRows(), 11, 12, now)); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, buf.Bytes())
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteDiff(&buf, "table", BuildDiff(nil, 11, 12, now)); err != nil {
			t.Fatal(err)
		}
		golden(t, "diff-empty.txt", buf.Bytes())
	})
}

func TestWriteDiffUnknownFormat(t *testing.T) {
	err := WriteDiff(&bytes.Buffer{}, "html", BuildDiff(nil, 1, 2, now))
	if err == nil || !strings.Contains(err.Error(), "table, csv, json") {
		t.Errorf("WriteDiff(html) error = %v, want one listing table, csv, json", err)
	}
}
