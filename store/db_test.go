package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"redsweep/triage"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "redsweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func cust(id, addr, subnet string) Customer {
	return Customer{ID: id, Name: "Name " + id, Phone: "555-" + id, Addr: netip.MustParsePrefix(addr), Subnet: netip.MustParsePrefix(subnet)}
}

var t0 = time.Date(2001, 8, 4, 12, 0, 0, 0, time.UTC)

func TestSchemaVersionMatchesMigrations(t *testing.T) {
	if SchemaVersion != len(migrations) {
		t.Fatalf("SchemaVersion %d, %d migrations", SchemaVersion, len(migrations))
	}
}

func TestOpenFresh(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	v, err := db.schemaVersion(ctx)
	if err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v; want %d", v, err, SchemaVersion)
	}
	var mode string
	if err := db.sql.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	var fk int
	if err := db.sql.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d %v", fk, err)
	}
	// Reopening an up-to-date database is a no-op.
	db2, err := Open(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "notdb.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not sqlite ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing dir", filepath.Join(dir, "nope", "x.db"), "cannot open database " + filepath.Join(dir, "nope", "x.db") + ": directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"parent is a file", filepath.Join(file, "x.db"), "is not a directory"},
		{"path is a dir", dir, "it is a directory"},
		{"empty", "", "empty path"},
		{"question mark", filepath.Join(dir, "a?b.db"), "may not contain"},
		{"not a database", notDB, "not an SQLite database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestOpenUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write to a read-only directory; the missing-dir and parent-is-file cases cover the root path")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(dir, "x.db"))
	if err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("err = %v, want not writable", err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	db := openTest(t)
	newer := SchemaVersion + 3
	if _, err := db.sql.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(db.Path())
	want := fmt.Sprintf("database schema version %d is newer than this redsweep supports (%d); upgrade redsweep", newer, SchemaVersion)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestOpenForeignDatabase(t *testing.T) {
	db := openTest(t)
	if _, err := db.sql.Exec("PRAGMA user_version = 0; CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(db.Path())
	if err == nil || !strings.Contains(err.Error(), "another program's database") {
		t.Fatalf("err = %v", err)
	}
}

// TestMigrations builds a database at every earlier version, fills it the
// way that version's redsweep would have, migrates it and checks that the
// data reads back through today's API.
func TestMigrations(t *testing.T) {
	seed := map[int]string{
		// Version 1 rows: a customer with its address, a sweep with an
		// infected observation and finding, a call.
		1: `INSERT INTO customers VALUES ('C1','Ann','555-1','', '2001-08-01T00:00:00.000000Z','old.csv');
			INSERT INTO customer_addrs (customer_id, addr, subnet, lo, hi, imported_at) VALUES
				('C1','10.0.0.5/32','10.0.0.0/24', X'00000000000000000000FFFF0A000005', X'00000000000000000000FFFF0A000005','2001-08-01T00:00:00.000000Z');
			INSERT INTO sweeps (started, ended, state, options, targets, probed) VALUES ('2001-08-04T00:00:00.000000Z','2001-08-04T00:10:00.000000Z','done','{}',1,1);
			INSERT INTO observations (sweep_id, ip, ip_key, port, status, verdict, seen) VALUES
				(1,'10.0.0.5', X'00000000000000000000FFFF0A000005', 80,'success','infected','2001-08-04T00:05:00.000000Z');
			INSERT INTO findings (observation_id, code, source, seen) VALUES (1,'codered1-defaced','sweep','2001-08-04T00:05:00.000000Z');
			INSERT INTO calls (ip, customer_id, outcome, at) VALUES ('10.0.0.5','C1','called','2001-08-04T01:00:00.000000Z');`,
		2: `INSERT INTO evidence (source, ip, ip_key, code, first_seen, last_seen, count) VALUES
				('report','10.0.0.5', X'00000000000000000000FFFF0A000005','codered2-traffic','2001-08-04T02:00:00.000000Z','2001-08-04T03:00:00.000000Z',3);`,
	}
	for from := 0; from < SchemaVersion; from++ {
		t.Run("from v"+string(rune('0'+from)), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			// Step up one version at a time, writing each version's rows
			// while the database is at that version.
			for v := 0; v <= from; v++ {
				old, err := openAt(path, v)
				if err != nil {
					t.Fatal(err)
				}
				if seed[v] != "" {
					if _, err := old.sql.Exec(seed[v]); err != nil {
						t.Fatalf("seed v%d: %v", v, err)
					}
				}
				old.Close()
			}
			db, err := Open(path)
			if err != nil {
				t.Fatalf("migrate from %d: %v", from, err)
			}
			defer db.Close()
			ctx := context.Background()
			if v, _ := db.schemaVersion(ctx); v != SchemaVersion {
				t.Fatalf("version %d after migration", v)
			}
			rows, err := db.CallRowsWith(ctx, time.Date(2001, 8, 5, 0, 0, 0, 0, time.UTC), CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if from == 0 {
				if len(rows) != 0 {
					t.Fatalf("empty db has call rows %+v", rows)
				}
				return
			}
			if len(rows) != 1 || rows[0].CustomerID != "C1" || rows[0].Verdict != triage.Infected || rows[0].LastOutcome != "called" {
				t.Fatalf("call rows after migration from %d: %+v", from, rows)
			}
			wantFindings := 1
			if from >= 2 {
				wantFindings = 2 // the report evidence too
			}
			if len(rows[0].Findings) != wantFindings {
				t.Errorf("findings %+v, want %d", rows[0].Findings, wantFindings)
			}
			// The migrated customer is still attributed and re-importable.
			c, ok, err := db.CustomerFor(ctx, netip.MustParseAddr("10.0.0.5"), t0)
			if err != nil || !ok || c.ID != "C1" {
				t.Fatalf("CustomerFor: %+v %v %v", c, ok, err)
			}
			st, err := db.ImportCustomers(ctx, []Customer{{ID: "C1", Name: "Ann", Phone: "555-1", Addr: netip.MustParsePrefix("10.0.0.5/32"), Subnet: netip.MustParsePrefix("10.0.0.0/24")}}, "new.csv")
			if err != nil || st.Unchanged != 1 {
				t.Fatalf("re-import: %+v %v", st, err)
			}
			s, err := db.Sweep(ctx, 1)
			if err != nil || s.State != SweepDone || s.Checkpoint != 0 {
				t.Fatalf("sweep: %+v %v", s, err)
			}
		})
	}
}

func TestImportCustomers(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	day1 := []Customer{cust("C1", "10.0.0.5/32", "10.0.0.0/24"), cust("C2", "10.0.0.6/32", "10.0.0.0/24"), cust("C3", "10.0.1.8/29", "10.0.1.0/24")}
	st, err := db.importCustomers(ctx, day1, "day1.csv", t0)
	if err != nil || st != (ImportStats{Added: 3}) {
		t.Fatalf("day1: %+v %v", st, err)
	}
	st, err = db.importCustomers(ctx, day1, "day1.csv", t0.Add(time.Hour))
	if err != nil || st != (ImportStats{Unchanged: 3}) {
		t.Fatalf("day1 again: %+v %v", st, err)
	}
	// Day 2: DHCP gives C1's address to new customer C4, C1 moves to .7,
	// C2 changes phone.
	t1 := t0.Add(24 * time.Hour)
	c2 := cust("C2", "10.0.0.6/32", "10.0.0.0/24")
	c2.Phone = "555-9999"
	day2 := []Customer{cust("C4", "10.0.0.5/32", "10.0.0.0/24"), cust("C1", "10.0.0.7/32", "10.0.0.0/24"), c2}
	st, err = db.importCustomers(ctx, day2, "day2.csv", t1)
	if err != nil || st != (ImportStats{Added: 1, Updated: 2, Reassigned: 1}) {
		t.Fatalf("day2: %+v %v", st, err)
	}
	a5 := netip.MustParseAddr("10.0.0.5")
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{t0.Add(-48 * time.Hour), "C1"}, {t0, "C1"}, {t1.Add(-time.Second), "C1"}, {t1, "C4"}, {t1.Add(time.Hour), "C4"}} {
		c, ok, err := db.CustomerFor(ctx, a5, tc.at)
		if err != nil || !ok || c.ID != tc.want {
			t.Errorf("holder of %s at %s = %q %v %v, want %s", a5, tc.at, c.ID, ok, err, tc.want)
		}
	}
	// A block customer owns addresses inside the block.
	if c, ok, _ := db.CustomerFor(ctx, netip.MustParseAddr("10.0.1.12"), t1); !ok || c.ID != "C3" {
		t.Errorf("block holder = %+v %v", c, ok)
	}
	if _, ok, _ := db.CustomerFor(ctx, netip.MustParseAddr("10.0.1.16"), t1); ok {
		t.Error("address outside every block attributed")
	}
	ps, err := db.RosterPrefixes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "[10.0.0.5/32 10.0.0.6/31 10.0.1.8/29]"
	if got := prefixList(ps); got != want {
		t.Errorf("roster prefixes %s, want %s", got, want)
	}
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestImportAtomic(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.ImportCustomers(ctx, []Customer{cust("C1", "10.0.0.1/32", "10.0.0.0/24")}, "a.csv"); err != nil {
		t.Fatal(err)
	}
	// A failure inside the transaction, after rows were already written:
	// a trigger refuses the third customer.
	if _, err := db.sql.Exec(`CREATE TRIGGER boom BEFORE INSERT ON customers WHEN NEW.id = 'BAD' BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	batch := []Customer{cust("C2", "10.0.0.2/32", "10.0.0.0/24"), cust("C1", "10.0.0.9/32", "10.0.0.0/24"), cust("BAD", "10.0.0.3/32", "10.0.0.0/24")}
	if _, err := db.ImportCustomers(ctx, batch, "b.csv"); err == nil || !strings.Contains(err.Error(), "refused by test") {
		t.Fatalf("err = %v", err)
	}
	var n int
	db.sql.QueryRow(`SELECT count(*) FROM customers`).Scan(&n)
	var addrs string
	db.sql.QueryRow(`SELECT group_concat(addr || ':' || ifnull(valid_to, 'open')) FROM customer_addrs`).Scan(&addrs)
	if n != 1 || addrs != "10.0.0.1/32:open" {
		t.Fatalf("after failed import: %d customers, addrs %s", n, addrs)
	}
	// Invalid input is refused before anything is written.
	for _, bad := range [][]Customer{
		{cust("X", "10.0.0.8/29", "10.0.0.0/24"), cust("Y", "10.0.0.9/32", "10.0.0.0/24")},
		{cust("X", "10.0.0.8/32", "10.0.1.0/24")},
		{{ID: "", Addr: netip.MustParsePrefix("10.0.0.8/32"), Subnet: netip.MustParsePrefix("10.0.0.0/24")}},
	} {
		if _, err := db.ImportCustomers(ctx, bad, "c.csv"); err == nil {
			t.Errorf("import of %+v succeeded", bad)
		}
	}
}

func TestSweepLock(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	release, err := db.AcquireSweepLock(ctx, os.Getpid(), "noc1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.AcquireSweepLock(ctx, os.Getpid()+1, "noc1")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second acquire: %v", err)
	}
	_, err = db.AcquireSweepLock(ctx, 1, "noc2")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "on host noc1") {
		t.Fatalf("other host: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// A lock left by a dead process is taken over.
	dead := deadPID(t)
	if _, err := db.AcquireSweepLock(ctx, dead, "noc1"); err != nil {
		t.Fatal(err)
	}
	release, err = db.AcquireSweepLock(ctx, os.Getpid(), "noc1")
	if err != nil {
		t.Fatalf("stale lock of dead pid %d not recovered: %v", dead, err)
	}
	release()
}

// deadPID is the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}
