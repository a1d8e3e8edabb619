package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"redsweep/triage"
)

func obs(ip string, port uint16, v triage.Verdict, seen time.Time, codes ...string) Observation {
	o := Observation{Addr: netip.MustParseAddr(ip), Port: port, Status: StatusSuccess, Verdict: v, Seen: seen, Server: "Microsoft-IIS/5.0", Duration: 12 * time.Millisecond}
	if v == triage.None {
		o.Status, o.Error = StatusRefused, "connection refused"
	}
	for _, c := range codes {
		o.Findings = append(o.Findings, triage.Finding{Code: c, Detail: "saw " + c, Evidence: "HTTP/1.0 200 OK", Source: triage.SourceSweep, Seen: seen})
	}
	return o
}

// writeSweep runs a whole sweep through a Writer.
func writeSweep(t *testing.T, db *DB, os ...Observation) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := db.StartSweep(ctx, `{"ports":[80]}`)
	if err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(id)
	for i, o := range os {
		w.Add(o)
		w.Checkpoint(int64(i + 1))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSweep(ctx, id, SweepDone, int64(len(os))); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOutbreakLifecycle(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	roster := []Customer{
		cust("A", "10.0.0.1/32", "10.0.0.0/24"), cust("B", "10.0.0.2/32", "10.0.0.0/24"),
		cust("C", "10.0.0.3/32", "10.0.0.0/24"), cust("D", "10.0.1.1/32", "10.0.1.0/24"),
		cust("E", "10.0.1.8/29", "10.0.1.0/24"), cust("F", "10.0.1.2/32", "10.0.1.0/24"),
	}
	if _, err := db.importCustomers(ctx, roster, "r.csv", t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	s1 := t0
	sw1 := writeSweep(t, db,
		obs("10.0.0.1", 80, triage.Infected, s1, triage.CodeRed1Defaced, triage.IISCodeRedEra),
		obs("10.0.0.1", 8080, triage.IIS, s1),
		obs("10.0.0.2", 80, triage.Vulnerable, s1, triage.IdaMapped),
		obs("10.0.0.3", 80, triage.Infected, s1, triage.NimdaContent),
		obs("10.0.1.1", 80, triage.None, s1),
		obs("10.0.1.9", 80, triage.Web, s1),
		obs("10.0.1.2", 80, triage.IIS, s1),
		obs("192.0.2.7", 80, triage.Infected, s1, triage.CodeRed1Defaced), // outside the roster
	)
	sw, err := db.Sweep(ctx, sw1)
	if err != nil || sw.Probed != 8 || sw.Checkpoint != 8 || sw.State != SweepDone || sw.Ended.IsZero() {
		t.Fatalf("sweep: %+v %v", sw, err)
	}
	// Passive: D's port is closed but a customer report saw it send Code
	// Red II; an ida-overflow alone is not a worm; stale evidence for F ages out.
	evs := []Evidence{
		{Source: triage.SourceReport, Addr: netip.MustParseAddr("10.0.1.1"), Code: triage.CodeRed2Traffic, FirstSeen: s1.Add(time.Minute), LastSeen: s1.Add(2 * time.Minute), Count: 2, DistinctTargets: 1, Reporter: "cust@example", Origin: "access.log:7", Sample: "GET /default.ida?XXXX"},
		{Source: triage.SourceReport, Addr: netip.MustParseAddr("10.0.1.1"), Code: triage.CodeRed2Traffic, FirstSeen: s1.Add(-time.Minute), LastSeen: s1.Add(3 * time.Minute), Count: 1, DistinctTargets: 1, Reporter: "cust@example", Origin: "access.log:3"},
		{Source: triage.SourceCapture, Addr: netip.MustParseAddr("10.0.1.2"), Code: triage.IdaOverflow, FirstSeen: s1, Count: 1},
		{Source: triage.SourceCapture, Addr: netip.MustParseAddr("10.0.1.2"), Code: triage.CodeRed1Traffic, FirstSeen: s1.Add(-30 * 24 * time.Hour), Count: 5},
	}
	if err := db.AddEvidence(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := db.AddEvidence(ctx, []Evidence{{Source: "rumour", Addr: evs[0].Addr, Code: "x", FirstSeen: s1}}); err == nil {
		t.Fatal("bad evidence source accepted")
	}
	merged, err := db.EvidenceFor(ctx, netip.MustParseAddr("10.0.1.1"))
	if err != nil || len(merged) != 1 {
		t.Fatalf("evidence merge: %+v %v", merged, err)
	}
	if m := merged[0]; m.Count != 3 || !m.FirstSeen.Equal(s1.Add(-time.Minute)) || !m.LastSeen.Equal(s1.Add(3*time.Minute)) || m.Origin != "access.log:3" || m.CustomerID != "D" {
		t.Errorf("merged evidence %+v", m)
	}

	now := s1.Add(time.Hour)
	rows, err := db.CallRows(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	got := callSummary(rows)
	want := "A 10.0.0.1 infected [codered1-defaced iis-codered-era] n=3 | C 10.0.0.3 infected [nimda-content] n=3 | D 10.0.1.1 infected [codered2-traffic] n=3 | B 10.0.0.2 vulnerable [ida-mapped] n=3"
	if got != want {
		t.Errorf("call rows\n got %s\nwant %s", got, want)
	}
	if d := rows[2]; d.Findings[0].Source != triage.SourceReport || d.SweepID != 0 || !d.LastSeen.Equal(s1.Add(3*time.Minute)) {
		t.Errorf("D row %+v", d)
	}
	// With a longer age-out, F's month-old capture counts too.
	rows, _ = db.CallRowsWith(ctx, now, CallOptions{EvidenceMaxAge: 60 * 24 * time.Hour})
	if !strings.Contains(callSummary(rows), "F 10.0.1.2 infected") {
		t.Errorf("F missing with long age-out: %s", callSummary(rows))
	}

	// Calls: by IP and by customer; a bad outcome refuses the whole batch.
	if n, err := db.Mark(ctx, "10.0.0.1", "called", "left message", now); err != nil || n != 1 {
		t.Fatalf("mark ip: %d %v", n, err)
	}
	if n, err := db.Mark(ctx, "C", "patched", "customer says patched", now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("mark customer: %d %v", n, err)
	}
	if n, err := db.Mark(ctx, "E", "no-answer", "", now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("mark block customer: %d %v", n, err)
	}
	_, err = db.MarkBatch(ctx, []MarkRow{{Target: "B", Outcome: "called", At: now}, {Target: "B", Outcome: "ringing", At: now, Line: 3}})
	if err == nil || !strings.Contains(err.Error(), `line 3: outcome "ringing" is not one of`) {
		t.Fatalf("bad outcome: %v", err)
	}
	for _, target := range []string{"192.0.2.99", "nobody"} {
		if _, err := db.Mark(ctx, target, "called", "", now); err == nil {
			t.Errorf("mark %s succeeded", target)
		}
	}
	rows, _ = db.CallRows(ctx, now.Add(time.Hour))
	byID := map[string]CallRow{}
	for _, r := range rows {
		byID[r.CustomerID] = r
	}
	if r := byID["A"]; r.LastOutcome != "called" || r.LastNote != "left message" {
		t.Errorf("A outcome %+v", r)
	}
	if r := byID["B"]; r.LastOutcome != "" {
		t.Errorf("B has outcome from a refused batch: %+v", r)
	}

	// A flagged rescan: A cleaned, C still infected (though marked patched),
	// B still vulnerable, and new host F (was iis) now infected.
	flagged, err := db.FlaggedAddrs(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(flagged); got != "[10.0.0.1 10.0.0.2 10.0.0.3 192.0.2.7]" {
		t.Errorf("flagged %s", got)
	}
	stale, _ := db.FlaggedAddrs(ctx, s1.Add(time.Second))
	// Every roster address was probed at s1 or never, so all are stale: 5
	// single addresses, E's /29, plus 192.0.2.7 (flagged, off the roster).
	if len(stale) != 5+8+1 {
		t.Errorf("stale: %v", stale)
	}
	if !containsAddr(stale, "10.0.1.15") || !containsAddr(stale, "10.0.1.1") || containsAddr(stale, "10.0.2.1") {
		t.Errorf("stale set %v", stale)
	}
	s2 := now.Add(2 * time.Hour)
	sw2 := writeSweep(t, db,
		obs("10.0.0.1", 80, triage.IIS, s2),
		obs("10.0.0.2", 80, triage.Vulnerable, s2, triage.IdaMapped),
		obs("10.0.0.3", 80, triage.Infected, s2, triage.NimdaContent),
		obs("10.0.1.2", 80, triage.Infected, s2, triage.CodeRed1Defaced),
	)
	diff, err := db.Diff(ctx, sw1, sw2)
	if err != nil {
		t.Fatal(err)
	}
	if got := diffSummary(diff); got != "newly-infected 10.0.1.2 F iis→infected | still-infected 10.0.0.3 C infected→infected PATCHED | cleaned 10.0.0.1 A infected→iis" {
		t.Errorf("diff: %s", got)
	}
	if _, err := db.Diff(ctx, sw2, sw1); err == nil {
		t.Error("reversed diff accepted")
	}
	// After the rescan A is off the list; D (not rescanned) keeps its evidence.
	rows, _ = db.CallRows(ctx, s2.Add(time.Minute))
	if got := callSummary(rows); strings.Contains(got, "A 10.0.0.1") || !strings.Contains(got, "D 10.0.1.1") || !strings.Contains(got, "F 10.0.1.2 infected") {
		t.Errorf("after rescan: %s", got)
	}
	// A "patched" call alone does not retire traffic evidence (the customer
	// may be wrong); a clean sweep after the call does (triage.CombineCleared).
	if _, err := db.Mark(ctx, "D", "patched", "", s2.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rows, _ = db.CallRows(ctx, s2.Add(3*time.Minute))
	if !strings.Contains(callSummary(rows), "D 10.0.1.1") {
		t.Errorf("a patched call alone retired evidence: %s", callSummary(rows))
	}
	for _, r := range rows {
		if r.CustomerID == "D" && (len(r.Calls) != 1 || r.Calls[0].Outcome != "patched" || !r.Calls[0].At.Equal(s2.Add(2*time.Minute))) {
			t.Errorf("D's call history: %+v", r.Calls)
		}
	}

	// Export streams every observation with findings.
	var exported []string
	err = db.Observations(ctx, sw1, func(o Observation) error {
		exported = append(exported, fmt.Sprintf("%s:%d/%s/%d", o.Addr, o.Port, o.Verdict, len(o.Findings)))
		return nil
	})
	if err != nil || strings.Join(exported, " ") != "10.0.0.1:80/infected/2 10.0.0.1:8080/iis/0 10.0.0.2:80/vulnerable/1 10.0.0.3:80/infected/1 10.0.1.1:80/none/0 10.0.1.9:80/web/0 10.0.1.2:80/iis/0 192.0.2.7:80/infected/1" {
		t.Errorf("export %v %v", exported, err)
	}
	stop := errors.New("stop")
	if err := db.Observations(ctx, sw1, func(Observation) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn error not returned: %v", err)
	}
	if err := db.Observations(ctx, 99, func(Observation) error { return nil }); !errors.Is(err, ErrNoSweep) {
		t.Errorf("missing sweep: %v", err)
	}

	// History of C: observations in both sweeps and the call, in order.
	hist, err := db.History(ctx, "C")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range hist {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); got != "observation,call,observation" {
		t.Errorf("history of C: %s", got)
	}
	hist, err = db.History(ctx, "10.0.1.1")
	if err != nil || len(hist) != 3 || hist[1].Kind != EventEvidence || hist[2].Kind != EventCall {
		t.Errorf("history of 10.0.1.1: %+v %v", hist, err)
	}
	if _, err := db.History(ctx, "nobody"); err == nil {
		t.Error("history of unknown customer succeeded")
	}
	list, err := db.ListSweeps(ctx)
	if err != nil || len(list) != 2 || list[0].ID != sw2 {
		t.Errorf("list sweeps %+v %v", list, err)
	}
	if l, err := db.LatestSweep(ctx); err != nil || l.ID != sw2 {
		t.Errorf("latest %+v %v", l, err)
	}

	// The clean sweep after the patched call retires D's evidence.
	writeSweep(t, db, obs("10.0.1.1", 80, triage.IIS, s2.Add(4*time.Minute)))
	rows, _ = db.CallRows(ctx, s2.Add(5*time.Minute))
	if strings.Contains(callSummary(rows), "D 10.0.1.1") {
		t.Errorf("evidence not retired by a patched call and a later clean sweep: %s", callSummary(rows))
	}
}

func containsAddr(as []netip.Addr, s string) bool {
	for _, a := range as {
		if a.String() == s {
			return true
		}
	}
	return false
}

func callSummary(rows []CallRow) string {
	var parts []string
	for _, r := range rows {
		var codes []string
		for _, f := range r.Findings {
			codes = append(codes, f.Code)
		}
		parts = append(parts, fmt.Sprintf("%s %s %s %v n=%d", r.CustomerID, r.IP, r.Verdict, codes, r.SubnetCustomers))
	}
	return strings.Join(parts, " | ")
}

func diffSummary(rows []DiffRow) string {
	var parts []string
	for _, r := range rows {
		s := fmt.Sprintf("%s %s %s %s→%s", r.Category, r.IP, r.CustomerID, r.From, r.To)
		if r.PatchedButInfected {
			s += " PATCHED"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

func TestResumeReplacesObservations(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	id, _ := db.StartSweep(ctx, "")
	w := db.NewWriter(id)
	w.Add(obs("10.0.0.1", 80, triage.Infected, t0, triage.CodeRed1Defaced, triage.IISCodeRedEra))
	w.Checkpoint(1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Add(obs("10.0.0.9", 80, triage.Web, t0)) // after Close: an error, not a panic
	if w.Err() == nil {
		t.Error("Add after Close not reported")
	}
	if err := db.FinishSweep(ctx, id, SweepInterrupted, 0); err != nil {
		t.Fatal(err)
	}
	s, err := db.ResumeSweep(ctx, id)
	if err != nil || s.Checkpoint != 1 || s.State != SweepRunning {
		t.Fatalf("resume %+v %v", s, err)
	}
	w = db.NewWriter(id)
	w.Add(obs("10.0.0.1", 80, triage.Infected, t0.Add(time.Minute), triage.CodeRed1Defaced))
	w.Checkpoint(0) // never moves backwards
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSweep(ctx, id, SweepDone, 1); err != nil {
		t.Fatal(err)
	}
	var n int
	db.Observations(ctx, id, func(o Observation) error {
		n++
		if len(o.Findings) != 1 || !o.Seen.Equal(t0.Add(time.Minute)) {
			t.Errorf("replaced observation %+v", o)
		}
		return nil
	})
	s, _ = db.Sweep(ctx, id)
	if n != 1 || s.Probed != 1 || s.Checkpoint != 1 {
		t.Errorf("n=%d sweep %+v", n, s)
	}
	if _, err := db.ResumeSweep(ctx, id); err == nil {
		t.Error("resumed a finished sweep")
	}
	if err := db.FinishSweep(ctx, id, "bogus", 0); err == nil {
		t.Error("bogus state accepted")
	}
}

// TestConcurrentUse is the cron sweep writing while support staff mark and
// list calls, on one file through separate handles as separate processes
// would. Under -race; any "database is locked" fails it.
func TestConcurrentUse(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var roster []Customer
	for i := range 200 {
		roster = append(roster, cust(fmt.Sprintf("C%03d", i), fmt.Sprintf("10.9.%d.%d/32", i/100, i%100+1), fmt.Sprintf("10.9.%d.0/24", i/100)))
	}
	if _, err := db.ImportCustomers(ctx, roster, "r.csv"); err != nil {
		t.Fatal(err)
	}
	id, err := db.StartSweep(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		w := db.NewWriter(id)
		for round := range 10 {
			for i, c := range roster {
				v := triage.IIS
				if (i+round)%7 == 0 {
					v = triage.Infected
				}
				w.Add(obs(c.Addr.Addr().String(), uint16(80+round), v, t0))
			}
		}
		errs <- w.Close()
	}()
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := Open(db.Path())
			if err != nil {
				errs <- err
				return
			}
			defer other.Close()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := other.Mark(ctx, roster[(g*37+i)%len(roster)].ID, "called", "", t0.Add(time.Duration(i)*time.Second)); err != nil {
					errs <- err
					return
				}
				if _, err := other.CallRows(ctx, t0.Add(time.Hour)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var n int
	db.sql.QueryRow(`SELECT count(*) FROM observations WHERE sweep_id = ?`, id).Scan(&n)
	if n != 2000 {
		t.Errorf("%d observations written, want 2000", n)
	}
}

// BenchmarkWriter compares batched transactions with one transaction per
// observation (the baseline). Read rows/s from each.
func BenchmarkWriter(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
	}{{"batched", writerBatch}, {"tx-per-row", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			db := openTest(b)
			id, _ := db.StartSweep(context.Background(), "")
			w := db.newWriter(id, bc.batch)
			o := obs("10.0.0.1", 80, triage.Infected, t0, triage.CodeRed1Defaced)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o.Addr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				w.Add(o)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	// The bulk of a large sweep: silent targets (no findings) in the sweep's
	// random order, so every index insert lands somewhere new.
	b.Run("silent-random", func(b *testing.B) {
		db := openTest(b)
		id, _ := db.StartSweep(context.Background(), "")
		w := db.NewWriter(id)
		o := obs("10.0.0.1", 80, triage.None, t0)
		o.Status = StatusTimeout
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			x := uint32(i) * 2654435761 // a bijection on uint32: random-looking order
			o.Addr = netip.AddrFrom4([4]byte{10, byte(x >> 16), byte(x >> 8), byte(x)})
			o.Pos = int64(i)
			w.Add(o)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
