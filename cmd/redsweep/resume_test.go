package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"redsweep/internal/simnet"
)

// TestMain lets a test run this binary as the real redsweep command (in a
// child process it can kill -9), when REDSWEEP_AS_CLI is set.
func TestMain(m *testing.M) {
	if os.Getenv("REDSWEEP_AS_CLI") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKilledSweepResumes: kill -9 a sweep midway; --resume finishes it with
// the original options; the results equal the ground truth (as an
// uninterrupted sweep's do) and nothing recorded before the kill is probed again.
func TestKilledSweepResumes(t *testing.T) {
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.97.0.0/22"), Port: 18097, Seed: 9, Hosts: 200,
		SlowDelay: 100 * time.Millisecond,
	})
	db := filepath.Join(t.TempDir(), "rs.db")
	ctx := context.Background()
	if code, _, errs := cli(t, ctx, "--db", db, "customers", "import", rosterPath); code != 0 {
		t.Fatal(errs)
	}
	// The child sweeps at 150 targets/s, so about 3 s for the ~400 addresses.
	child := exec.Command(os.Args[0], "--db", db, "sweep", "--ports", "18097", "--rate", "150",
		"--timeout", "1s", "--host-timeout", "3s", "--seed", "12345", "--quiet")
	child.Env = append(os.Environ(), "REDSWEEP_AS_CLI=1")
	var childErr strings.Builder
	child.Stderr = &childErr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once some results are committed, well before the end.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			child.Process.Kill()
			child.Wait()
			t.Fatalf("the child sweep committed nothing in 20s: %s", childErr.String())
		}
		if c, _, _ := cli(t, ctx, "--db", db, "export", "--format", "csv"); c == 0 {
			if got := exportSweep(t, db); len(got) >= 60 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	before := exportSweep(t, db)
	total := len(n.Truth())
	if len(before) >= total {
		t.Fatalf("the sweep finished before it was killed (%d of %d); slow it down", len(before), total)
	}
	resumedAt := time.Now()

	code, out, errs := cli(t, ctx, "--db", db, "sweep", "--resume", "latest", "--quiet")
	if code != 0 && code != exitNewInfections {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "sweep 1 done") {
		t.Errorf("the resumed sweep must finish sweep 1, got %q", out)
	}

	after := exportSweep(t, db)
	for _, tr := range n.Truth() {
		g, ok := after[tr.IP]
		if !ok {
			t.Errorf("%s: never probed", tr.IP)
			continue
		}
		if g.Verdict != string(tr.Verdict) {
			t.Errorf("%s (%s): verdict %s, truth %s", tr.IP, tr.Personality, g.Verdict, tr.Verdict)
		}
	}
	if len(after) != total {
		t.Errorf("%d observations after resume, want %d", len(after), total)
	}
	// Nothing committed before the kill is probed again.
	reprobed := 0
	for _, r := range n.Requests() {
		if r.Time.Before(resumedAt) || r.Target != "/" {
			continue
		}
		if _, done := before[r.Addr]; done {
			reprobed++
			t.Errorf("%s was recorded before the kill and probed again after resume", r.Addr)
		}
	}
	t.Logf("killed after %d of %d results; resume probed the rest, %d re-probed", len(before), total, reprobed)
}
