package main

// Many hands on one database (issue 7 point 3): a cron sweep writes while
// the support desk runs mark, calls, history and export against the same
// file. Nobody may see "database is locked"; a second sweep is refused while
// the first runs, naming its pid; a lock left by a dead sweep is recovered.
// Run it under the race detector (go test -race).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"redsweep/internal/simnet"
	"redsweep/store"
)

// lockTrouble reports whether a command's stderr shows SQLite lock
// contention leaking out to the user.
func lockTrouble(stderr string) bool {
	s := strings.ToLower(stderr)
	return strings.Contains(s, "locked") || strings.Contains(s, "busy")
}

func TestManyHandsOnOneDatabase(t *testing.T) {
	const port = 18094
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.94.0.0/22"), Port: port, Seed: 94, Hosts: 150, Customers: 300,
		SlowDelay: 300 * time.Millisecond,
	})
	db := filepath.Join(t.TempDir(), "rs.db")
	bg := context.Background()
	if code, _, errs := cli(t, bg, "--db", db, "customers", "import", rosterPath); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	var ips []string
	customers := map[string]bool{}
	for _, h := range n.Hosts() {
		ips = append(ips, h.Addr.String())
		customers[h.CustomerID] = true
	}
	var custIDs []string
	for id := range customers {
		custIDs = append(custIDs, id)
	}
	sweepArgs := func(extra ...string) []string {
		return append([]string{"--db", db, "sweep", "--ports", strconv.Itoa(port), "--timeout", "1s", "--host-timeout", "4s", "--quiet"}, extra...)
	}
	// A first, small sweep so that export and calls have a sweep to show
	// from the start.
	if code, out, errs := cli(t, bg, sweepArgs("--rate", "0", "--targets", strings.Join(ips[:20], ","))...); code != exitOK && code != exitNewInfections {
		t.Fatalf("first sweep: exit %d: %s%s", code, out, errs)
	}

	// The cron sweep: every roster address, paced so that it lasts a few
	// seconds (the pacing sets a floor on its length, not a ceiling).
	ctx, cancel := context.WithTimeout(bg, 5*time.Minute)
	defer cancel()
	var sweepDone atomic.Bool
	sweepEnded := make(chan struct{})
	var sweepCode int
	var sweepOut, sweepErr string
	go func() {
		defer close(sweepEnded)
		sweepCode, sweepOut, sweepErr = cli(t, ctx, sweepArgs("--rate", "100")...)
		sweepDone.Store(true)
	}()

	// The support desk, four people at once, until the sweep ends.
	type failure struct{ args, detail string }
	var mu sync.Mutex
	var failures []failure
	fail := func(args []string, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, failure{strings.Join(args, " "), fmt.Sprintf(format, a...)})
	}
	var overlapped [4]atomic.Int64 // commands that finished while the sweep still ran
	desk := []func(i int) []string{
		func(i int) []string {
			if i%5 == 4 {
				return []string{"--db", db, "mark", custIDs[i%len(custIDs)], "--outcome", "no-answer", "--by", "desk1"}
			}
			return []string{"--db", db, "mark", ips[i%len(ips)], "--outcome", "called", "--note", "loop " + strconv.Itoa(i), "--by", "desk1"}
		},
		func(i int) []string { return []string{"--db", db, "calls", "--format", "json"} },
		func(i int) []string { return []string{"--db", db, "history", ips[(7*i)%len(ips)]} },
		func(i int) []string { return []string{"--db", db, "export", "--format", "ndjson"} },
	}
	var wg sync.WaitGroup
	for w, next := range desk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				args := next(i)
				code, out, errs := cli(t, bg, args...)
				switch {
				case code != 0:
					fail(args, "exit %d: %s", code, errs)
				case lockTrouble(errs):
					fail(args, "stderr: %s", errs)
				case args[2] == "calls" && !json.Valid([]byte(out)):
					fail(args, "calls printed invalid JSON: %.200s", out)
				}
				if sweepDone.Load() {
					return
				}
				overlapped[w].Add(1)
			}
		}()
	}

	// Meanwhile a second sweep is started by hand: refused, naming the pid
	// of the one that holds the lock (this test process).
	waitRunning(t, db, sweepEnded)
	args := sweepArgs("--rate", "0")
	code, out, errs := cli(t, bg, args...)
	stillRunning := !sweepDone.Load()
	if code != exitError || !strings.Contains(errs, "another sweep is running") || !strings.Contains(errs, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Errorf("a second sweep while one runs: exit %d, stderr %q; want exit 1 and a message naming pid %d\n%s", code, errs, os.Getpid(), out)
	}
	if !stillRunning {
		t.Fatalf("inconclusive: the first sweep ended before the second one was refused (slow the first with a lower --rate)")
	}

	<-sweepEnded
	wg.Wait()
	if sweepCode != exitOK && sweepCode != exitNewInfections {
		t.Errorf("cron sweep: exit %d: %s%s", sweepCode, sweepOut, sweepErr)
	}
	if lockTrouble(sweepErr) {
		t.Errorf("cron sweep stderr: %s", sweepErr)
	}
	for _, f := range failures {
		t.Errorf("redsweep %s: %s", f.args, f.detail)
	}
	for w := range desk {
		if overlapped[w].Load() == 0 {
			t.Errorf("inconclusive: desk command %q never ran while the sweep was writing", desk[w](0)[2])
		}
	}
	// Nothing the sweep found was lost to contention: one result per
	// roster address.
	if got := exportSweep(t, db); len(got) != len(ips) {
		t.Errorf("the cron sweep recorded %d results, the roster has %d addresses", len(got), len(ips))
	}
	t.Logf("desk commands run during the sweep: mark %d, calls %d, history %d, export %d",
		overlapped[0].Load(), overlapped[1].Load(), overlapped[2].Load(), overlapped[3].Load())

	// A lock left behind by a sweep that died (kill -9, power cut) is
	// taken over by the next sweep.
	host, _ := os.Hostname()
	dead := exitedPID(t)
	sdb, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.AcquireSweepLock(bg, dead, host); err != nil { // never released: the process "died"
		t.Fatalf("planting a stale lock: %v", err)
	}
	sdb.Close()
	code, out, errs = cli(t, bg, sweepArgs("--rate", "0", "--targets", strings.Join(ips[:10], ","))...)
	if code != exitOK && code != exitNewInfections {
		t.Errorf("sweep after a stale lock of dead pid %d: exit %d, want it recovered: %s%s", dead, code, out, errs)
	}
	// And released again when that sweep ended.
	sdb, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	release, err := sdb.AcquireSweepLock(bg, os.Getpid(), host)
	if err != nil {
		t.Fatalf("the lock is still held after the recovering sweep ended: %v", err)
	}
	release()
}

// waitRunning waits until the latest sweep in db is running (the sweep lock
// is taken before the sweep row is written, so the lock is then held).
func waitRunning(t *testing.T, path string, ended <-chan struct{}) {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := db.LatestSweep(context.Background())
		if err == nil && s.State == store.SweepRunning {
			return
		}
		select {
		case <-ended:
			t.Fatalf("inconclusive: the sweep ended before it was seen running (latest %+v, %v)", s, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sweep was not seen running within 2 minutes (latest %+v, %v)", s, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exitedPID is the pid of a process that has exited and been reaped.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot start a process to get a dead pid: %v", err)
	}
	return cmd.Process.Pid
}
