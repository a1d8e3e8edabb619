package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

// DB is an open redsweep database. It is safe for concurrent use: SQLite in
// WAL mode lets readers (calls, history) run while one writer (a sweep)
// writes; writers queue behind each other for up to BusyTimeout.
type DB struct {
	sql  *sql.DB
	path string
}

// BusyTimeout is how long a statement waits for another writer before
// failing with "database is locked". Writer transactions are short (one
// batch), so ten seconds is ample even on a loaded machine.
const BusyTimeout = 10 * time.Second

// Open opens (creating if needed) the database at path and migrates it to
// SchemaVersion. It refuses a database written by a newer redsweep.
func Open(path string) (*DB, error) { return openAt(path, SchemaVersion) }

// openAt opens and migrates only up to version: tests use it to build a
// database as an older redsweep left it.
func openAt(path string, version int) (*DB, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	name := path
	if strings.HasPrefix(name, "file:") {
		name = "./" + name // a plain file name, not an SQLite URI
	}
	// _txlock=immediate: every transaction takes the write lock when it
	// begins, so two writers queue on busy_timeout instead of one failing
	// with SQLITE_BUSY when it upgrades a read lock mid-transaction.
	dsn := fmt.Sprintf("%s?_journal_mode=WAL&_busy_timeout=%d&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL&_cache_size=-16384",
		name, BusyTimeout.Milliseconds())
	sdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open database %s: %w", path, err)
	}
	db := &DB{sql: sdb, path: path}
	ctx := context.Background()
	var mode string
	if err := sdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		sdb.Close()
		return nil, openError(path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		sdb.Close()
		return nil, fmt.Errorf("cannot open database %s: journal mode is %q, want WAL (is it on a network filesystem?)", path, mode)
	}
	if err := db.migrate(ctx, version); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// checkPath turns the usual mistakes into errors a person can act on before
// SQLite reports its generic "unable to open database file".
func checkPath(path string) error {
	if path == "" {
		return errors.New("cannot open database: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("cannot open database %s: the path may not contain '?' or '#'", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("cannot open database %s: directory %s does not exist", path, dir)
	case errors.Is(err, syscall.ENOTDIR) || (err == nil && !fi.IsDir()):
		return fmt.Errorf("cannot open database %s: %s is not a directory", path, dir)
	case err != nil:
		return fmt.Errorf("cannot open database %s: %w", path, err)
	}
	const wOK = 2 // access(2) W_OK
	// SQLite creates path-wal and path-shm beside the database, so the
	// directory must be writable even when the file already exists.
	if err := syscall.Access(dir, wOK); err != nil {
		return fmt.Errorf("cannot open database %s: directory %s is not writable (%v)", path, dir, err)
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("cannot open database %s: it is a directory", path)
		}
		if err := syscall.Access(path, wOK); err != nil {
			return fmt.Errorf("cannot open database %s: file is not writable (%v)", path, err)
		}
	}
	return nil
}

func openError(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
		return fmt.Errorf("cannot open database %s: not an SQLite database", path)
	}
	return fmt.Errorf("cannot open database %s: %w", path, err)
}

func (db *DB) migrate(ctx context.Context, target int) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return openError(db.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return openError(db.path, err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("database %s: database schema version %d is newer than this redsweep supports (%d); upgrade redsweep", db.path, v, SchemaVersion)
	}
	if v == 0 {
		// Version 0 with tables in it is some other program's database:
		// migrating would fail halfway with a confusing "table exists".
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
			return openError(db.path, err)
		}
		if n > 0 {
			return fmt.Errorf("cannot open database %s: it has tables but no redsweep schema version; is it another program's database?", db.path)
		}
	}
	if v >= target {
		return nil
	}
	for i := v; i < target; i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("database %s: migrating schema from version %d to %d: %w", db.path, i, i+1, err)
		}
	}
	// user_version lives in the file header and is part of the transaction.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", target)); err != nil {
		return fmt.Errorf("database %s: recording schema version: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("database %s: migrating schema: %w", db.path, err)
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Path is the file the database lives in.
func (db *DB) Path() string { return db.path }

// schemaVersion reads PRAGMA user_version.
func (db *DB) schemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// inTx runs fn in one (immediate) transaction: all or nothing.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.fileError(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return db.fileError(err)
	}
	return db.fileError(tx.Commit())
}

// fileError names the database file in errors about the file rather than
// the statement (a full disk, a read-only file or filesystem, an I/O
// error), so that a cron mail says which file, on which filesystem, needs
// attention. Other errors are returned as they are.
func (db *DB) fileError(err error) error {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull:
		return fmt.Errorf("%w (database %s: its filesystem is full)", err, db.path)
	case sqlite3.ErrReadonly, sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
		return fmt.Errorf("%w (database %s)", err, db.path)
	}
	return err
}

// Timestamps are stored as fixed-width RFC 3339 UTC text so that text order
// is time order (RFC3339Nano trims zeros and would not sort).
const tsLayout = "2006-01-02T15:04:05.000000Z"

func fmtTS(t time.Time) string { return t.UTC().Format(tsLayout) }

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q in database: %w", s, err)
	}
	return t, nil
}

func nullTS(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: fmtTS(t), Valid: true}
}

func parseNullTS(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTS(s.String)
}

// addrKey is the 16-byte sortable form of an address (IPv4 mapped into
// ::ffff:0:0/96, so all of IPv4 sorts together).
func addrKey(a netip.Addr) []byte {
	b := a.Unmap().As16()
	return b[:]
}

// prefixRange is the first and last address of p as keys.
func prefixRange(p netip.Prefix) (lo, hi []byte) {
	p = p.Masked()
	b := p.Addr().As16()
	lo = append([]byte(nil), b[:]...)
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return lo, b[:]
}
