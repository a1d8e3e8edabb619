package store

// The database file on a bad disk (issue 7 point 6): a full filesystem and a
// read-only one give an error that names the file and says what is wrong,
// and what was committed before stays intact and readable. The newer-schema
// and migration cases are in db_test.go.
//
// These tests mount small tmpfs filesystems, so they need root (CI runs as
// root); elsewhere they skip.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"redsweep/triage"
)

// diskMount mounts a tmpfs with the given options on a fresh directory and
// unmounts it when the test ends. It skips the test when mounting is not
// allowed here.
func diskMount(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount tmpfs (%s) here: %v", opts, err)
	}
	t.Cleanup(func() { diskUnmount(t, dir) })
	return dir
}

func diskUnmount(t *testing.T, dir string) {
	if err := syscall.Unmount(dir, 0); err != nil {
		// Something still holds a file open: detach it so the test run
		// does not leave a mount behind.
		if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
			t.Errorf("unmount %s: %v; lazy unmount: %v", dir, err, err2)
			return
		}
		t.Errorf("unmount %s: %v (detached lazily instead)", dir, err)
	}
}

// diskFill writes a filler file in dir until the filesystem refuses with
// ENOSPC, and returns its path.
func diskFill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xAA}, 4096)
	for i := 0; ; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
		if i > 1<<20 {
			t.Fatal("the filesystem never filled up")
		}
	}
}

// diskFullError checks that err says the disk is full and names path.
func diskFullError(t *testing.T, what string, err error, path string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s on a full disk succeeded", what)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, "full") {
		t.Errorf("%s: error %q does not say the disk is full", what, msg)
	}
	if !strings.Contains(msg, path) {
		t.Errorf("%s: error %q does not name the database %s", what, msg, path)
	}
}

// diskObs is a vulnerable observation of 10.<net>.<i>, with findings.
func diskObs(net byte, i int, seen time.Time) Observation {
	a := netip.AddrFrom4([4]byte{10, net, byte(i >> 8), byte(i)})
	return Observation{
		Addr: a, Port: 80, Status: StatusSuccess, Verdict: triage.Vulnerable, Seen: seen,
		Server: "Microsoft-IIS/5.0", StatusLine: "HTTP/1.1 200 OK", Duration: 5 * time.Millisecond, Pos: -1,
		Findings: []triage.Finding{
			{Code: "iis-codered-era", Detail: strings.Repeat("IIS 5.0 of the Code Red era; ", 8), Evidence: "Server: Microsoft-IIS/5.0", Source: triage.SourceSweep, Seen: seen},
			{Code: "ida-mapped", Detail: strings.Repeat(".ida is mapped to idq.dll; ", 8), Evidence: "HTTP/1.1 200 OK", Source: triage.SourceSweep, Seen: seen},
		},
	}
}

func diskCustomers(prefix byte, n int) []Customer {
	cs := make([]Customer, n)
	for i := range cs {
		a := netip.AddrFrom4([4]byte{10, prefix, byte(i >> 8), byte(i)})
		cs[i] = Customer{
			ID: fmt.Sprintf("D%d-%05d", prefix, i), Name: strings.Repeat("Customer Name ", 4), Phone: "+1-206-555-0100",
			Addr: netip.PrefixFrom(a, 32), Subnet: netip.PrefixFrom(a, 24).Masked(), Plan: "dsl-768k",
		}
	}
	return cs
}

// diskSnapshot is what the test checks survives: counts of every table and
// the database's own consistency check.
func diskSnapshot(t *testing.T, db *DB) string {
	t.Helper()
	var ok string
	if err := db.sql.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if ok != "ok" {
		t.Fatalf("integrity_check: %s", ok)
	}
	var b strings.Builder
	for _, tbl := range []string{"customers", "customer_addrs", "sweeps", "observations", "findings", "calls"} {
		var n int
		if err := db.sql.QueryRow("SELECT count(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tbl, err)
		}
		fmt.Fprintf(&b, "%s=%d ", tbl, n)
	}
	// Every sweep's probed count matches its observations: no half batch.
	rows, err := db.sql.Query(`SELECT s.id, s.probed, (SELECT count(*) FROM observations o WHERE o.sweep_id = s.id) FROM sweeps s`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, probed, n int64
		if err := rows.Scan(&id, &probed, &n); err != nil {
			t.Fatal(err)
		}
		if probed != n {
			t.Errorf("sweep %d: probed %d but %d observations stored (a batch half written?)", id, probed, n)
		}
		fmt.Fprintf(&b, "sweep%d=%d ", id, n)
	}
	return b.String()
}

func diskCount(t *testing.T, db *DB, query string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestDiskFull fills a 1 MiB tmpfs under a database and checks that opening
// a new database, a sweep's Writer and a roster import each fail with an
// error naming the file and saying the disk is full; that after space is
// freed the same handle writes again; and that after a reopen everything
// committed before is intact (integrity_check, row counts, the call list),
// the failed import left nothing, and the sweep's committed batches are
// whole.
func TestDiskFull(t *testing.T) {
	dir := diskMount(t, "size=1m")
	ctx := context.Background()
	path := filepath.Join(dir, "redsweep.db")

	// Before the disk fills: a roster, a finished sweep that puts customers
	// on the call list, a call, and a second sweep just started.
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ImportCustomers(ctx, diskCustomers(1, 50), "before.csv"); err != nil {
		t.Fatal(err)
	}
	id1, err := db.StartSweep(ctx, `{"ports":[80]}`)
	if err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(id1)
	for i := range 50 {
		w.Add(diskObs(1, i, t0))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishSweep(ctx, id1, SweepDone, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Mark(ctx, "10.1.0.7", "called", "before the disk filled", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	id2, err := db.StartSweep(ctx, `{"ports":[80]}`)
	if err != nil {
		t.Fatal(err)
	}
	diskSnapshot(t, db)
	at := t0.Add(time.Hour)
	beforeCalls, err := db.CallRows(ctx, at)
	if err != nil || len(beforeCalls) != 50 {
		t.Fatalf("call list before the disk filled: %d rows, %v", len(beforeCalls), err)
	}

	// Keep 160 KiB aside, then fill the rest.
	reserve := filepath.Join(dir, "reserve")
	if err := os.WriteFile(reserve, bytes.Repeat([]byte{0x55}, 160<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	filler := diskFill(t, dir)

	// A new database on the full disk.
	other := filepath.Join(dir, "other.db")
	if db2, err := Open(other); err == nil {
		db2.Close()
		t.Error("Open of a new database on a full disk succeeded")
	} else {
		diskFullError(t, "Open", err, other)
		t.Logf("open a new database: %v", err)
	}

	// A sweep's results through the Writer, in small batches, with the
	// 160 KiB given back: the batches that fit are committed, the first that
	// does not fails, and Close says so.
	if err := os.Remove(reserve); err != nil {
		t.Fatal(err)
	}
	w = db.newWriter(id2, 20)
	for i := range 3000 {
		w.Add(diskObs(9, i, at))
	}
	err = w.Close()
	diskFullError(t, "Writer.Close", err, path)
	t.Logf("writer: %v", err)
	// Sweep 2 is left as a crash would leave it (no FinishSweep, which
	// recounts probed): its probed count is then only what each committed
	// batch added, and diskSnapshot checks it against the rows stored.

	// A roster import too big for what is left: refused whole.
	_, err = db.ImportCustomers(ctx, diskCustomers(2, 3000), "big.csv")
	diskFullError(t, "ImportCustomers", err, path)
	t.Logf("import: %v", err)

	// Free the space: the open database takes writes again; everything
	// committed before is there and consistent after a reopen
	// (integrity_check, and probed = observations for every sweep).
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Mark(ctx, "10.1.0.8", "no-answer", "after space was freed", t0.Add(2*time.Minute)); err != nil {
		t.Errorf("mark after freeing space, same handle: %v", err)
	}
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	t.Logf("after: %s", diskSnapshot(t, db))
	for q, want := range map[string]int{
		`SELECT count(*) FROM customers`:                       50, // the failed import wrote nothing
		`SELECT count(*) FROM customer_addrs`:                  50,
		`SELECT count(*) FROM observations WHERE sweep_id = 1`: 50,
		`SELECT count(*) FROM findings f JOIN observations o ON o.id = f.observation_id WHERE o.sweep_id = 1`: 100,
		`SELECT count(*) FROM calls`:                                  2,
		`SELECT count(*) FROM sweeps WHERE id = 1 AND state = 'done'`: 1,
	} {
		if got := diskCount(t, db, q); got != want {
			t.Errorf("%s = %d after the disk was full, want %d", q, got, want)
		}
	}
	// Sweep 2's batches are whole: each stored observation has both its
	// findings, and fewer than all were stored.
	n2 := diskCount(t, db, `SELECT count(*) FROM observations WHERE sweep_id = 2`)
	f2 := diskCount(t, db, `SELECT count(*) FROM findings f JOIN observations o ON o.id = f.observation_id WHERE o.sweep_id = 2`)
	if f2 != 2*n2 || n2 == 0 || n2 >= 3000 {
		t.Errorf("sweep 2 on the full disk: %d observations with %d findings; want some whole batches (each observation with its 2 findings), not all 3000", n2, f2)
	}
	afterCalls, err := db.CallRows(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(afterCalls) != len(beforeCalls) {
		t.Errorf("call list: %d rows before the disk filled, %d after", len(beforeCalls), len(afterCalls))
	}
	if _, err := db.ImportCustomers(ctx, diskCustomers(3, 200), "after.csv"); err != nil {
		t.Errorf("import after freeing space: %v", err)
	}
	db.Close()
}

// TestReadOnlyFilesystem: root ignores permission bits, but not a read-only
// filesystem (EROFS). A new database in a read-only directory and an
// existing one on a read-only mount are refused with an error naming the
// path, and the existing file is left as it was.
func TestReadOnlyFilesystem(t *testing.T) {
	t.Run("new database", func(t *testing.T) {
		dir := diskMount(t, "size=1m,ro")
		path := filepath.Join(dir, "redsweep.db")
		db, err := Open(path)
		if err == nil {
			db.Close()
			t.Fatal("Open on a read-only filesystem succeeded")
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read-only file system") {
			t.Errorf("error %q should name %s and say the filesystem is read-only", err, path)
		}
		t.Logf("%v", err)
	})
	t.Run("existing database", func(t *testing.T) {
		rw := diskMount(t, "size=1m")
		path := filepath.Join(rw, "redsweep.db")
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ImportCustomers(context.Background(), diskCustomers(1, 10), "r.csv"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		sum := diskSum(t, path)

		// The same directory through a read-only bind mount.
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount(rw, ro, "", syscall.MS_BIND, ""); err != nil {
			t.Skipf("bind mount: %v", err)
		}
		t.Cleanup(func() { diskUnmount(t, ro) })
		if err := syscall.Mount("", ro, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("read-only remount of the bind mount: %v", err)
		}
		roPath := filepath.Join(ro, "redsweep.db")
		db, err = Open(roPath)
		if err == nil {
			db.Close()
			t.Fatal("Open of a database on a read-only mount succeeded")
		}
		if !strings.Contains(err.Error(), roPath) || !strings.Contains(err.Error(), "read-only file system") {
			t.Errorf("error %q should name %s and say the filesystem is read-only", err, roPath)
		}
		t.Logf("%v", err)
		if diskSum(t, path) != sum {
			t.Error("the refused database file was changed")
		}
	})
}

func diskSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpenNewerSchemaLeavesFileAlone: a database written by a newer
// redsweep is refused with an error naming it, and neither migrated nor
// otherwise written to (db_test.go checks the message itself).
func TestOpenNewerSchemaLeavesFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion + 1
	if _, err := db.sql.Exec(fmt.Sprintf("CREATE TABLE from_the_future (x); PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sum := diskSum(t, path)
	for range 2 {
		db, err := Open(path)
		if err == nil {
			db.Close()
			t.Fatal("Open of a newer database succeeded")
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "newer than this redsweep supports") {
			t.Errorf("error %q should name %s and say it is newer", err, path)
		}
	}
	if diskSum(t, path) != sum {
		t.Error("the refused newer database was modified")
	}
}
