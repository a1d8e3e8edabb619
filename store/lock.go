package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ErrLocked is wrapped by AcquireSweepLock when another sweep holds the lock.
var ErrLocked = errors.New("another sweep is running on this database")

// AcquireSweepLock takes the database's one sweep lock for pid on host, so
// that a cron sweep does not start while another is still running. A lock
// left by a process that no longer exists on this host (killed, crashed) is
// taken over. A lock held from another host cannot be checked and is
// refused. release removes the lock; calling it twice is harmless.
func (db *DB) AcquireSweepLock(ctx context.Context, pid int, host string) (release func() error, err error) {
	started := fmtTS(time.Now())
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var hpid int
		var hhost, hstarted string
		err := tx.QueryRowContext(ctx, `SELECT pid, host, started FROM sweep_locks WHERE id = 1`).Scan(&hpid, &hhost, &hstarted)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		case hhost == host && !processAlive(hpid):
			// Stale: its process is gone. Taken over below.
		case hhost == host:
			return fmt.Errorf("%w: pid %d since %s", ErrLocked, hpid, hstarted)
		default:
			return fmt.Errorf("%w: pid %d on host %s since %s (cannot check another host; if it is not running, delete the row in sweep_locks)",
				ErrLocked, hpid, hhost, hstarted)
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO sweep_locks (id, pid, host, started) VALUES (1, ?, ?, ?)`, pid, host, started)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sweep lock: %w", err)
	}
	return func() error {
		// Background: release must work after the sweep's context ends.
		_, err := db.sql.ExecContext(context.Background(), `DELETE FROM sweep_locks WHERE id = 1 AND pid = ? AND host = ? AND started = ?`, pid, host, started)
		if err != nil {
			return fmt.Errorf("release sweep lock: %w", err)
		}
		return nil
	}, nil
}

// processAlive says whether pid exists on this machine. EPERM means it
// exists but belongs to someone else.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
