package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"redsweep/triage"
)

// StartSweep records a new running sweep and returns its id. optionsJSON is
// what the sweep runs with, kept so that --resume can run it again.
func (db *DB) StartSweep(ctx context.Context, optionsJSON string) (int64, error) {
	return db.startSweep(ctx, optionsJSON, time.Now())
}

func (db *DB) startSweep(ctx context.Context, optionsJSON string, now time.Time) (int64, error) {
	if optionsJSON == "" {
		optionsJSON = "{}"
	}
	if !json.Valid([]byte(optionsJSON)) {
		return 0, errors.New("start sweep: options are not valid JSON")
	}
	res, err := db.sql.ExecContext(ctx, `INSERT INTO sweeps (started, state, options) VALUES (?, ?, ?)`,
		fmtTS(now), SweepRunning, optionsJSON)
	if err != nil {
		return 0, fmt.Errorf("start sweep: %w", db.fileError(err))
	}
	return res.LastInsertId()
}

// FinishSweep records how a sweep ended. Probed is recounted from the
// observations so that a resumed sweep's count is exact.
func (db *DB) FinishSweep(ctx context.Context, id int64, state string, targets int64) error {
	switch state {
	case SweepDone, SweepInterrupted, SweepFailed:
	default:
		return fmt.Errorf("finish sweep %d: state %q is not done, interrupted or failed", id, state)
	}
	res, err := db.sql.ExecContext(ctx, `UPDATE sweeps SET ended = ?, state = ?, targets = ?,
		probed = (SELECT count(*) FROM observations WHERE sweep_id = ?) WHERE id = ?`,
		fmtTS(time.Now()), state, targets, id, id)
	if err != nil {
		return fmt.Errorf("finish sweep %d: %w", id, db.fileError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("finish sweep %d: no such sweep", id)
	}
	return nil
}

// MarkAbandonedSweeps marks every sweep still "running" as interrupted.
// Call it only while holding the sweep lock: then no running sweep can be
// alive, so "running" means its process died (kill -9, a crash, a reboot).
func (db *DB) MarkAbandonedSweeps(ctx context.Context) (int, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE sweeps SET state = ?, ended = coalesce(ended, ?) WHERE state = ?`,
		SweepInterrupted, fmtTS(time.Now()), SweepRunning)
	if err != nil {
		return 0, db.fileError(fmt.Errorf("marking abandoned sweeps: %w", err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ResumeSweep marks an interrupted (or crashed, still "running") sweep as
// running again so its writer can continue it. Its Checkpoint says where to
// start.
func (db *DB) ResumeSweep(ctx context.Context, id int64) (Sweep, error) {
	res, err := db.sql.ExecContext(ctx, `UPDATE sweeps SET state = ?, ended = NULL WHERE id = ? AND state IN (?, ?)`,
		SweepRunning, id, SweepInterrupted, SweepRunning)
	if err != nil {
		return Sweep{}, fmt.Errorf("resume sweep %d: %w", id, db.fileError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s, err := db.Sweep(ctx, id)
		if err != nil {
			return Sweep{}, fmt.Errorf("resume sweep %d: %w", id, err)
		}
		return Sweep{}, fmt.Errorf("resume sweep %d: it is %s, only an interrupted sweep can be resumed", id, s.State)
	}
	return db.Sweep(ctx, id)
}

const sweepCols = `id, started, ended, state, options, targets, probed, checkpoint`

func scanSweep(sc interface{ Scan(...any) error }) (Sweep, error) {
	var s Sweep
	var started string
	var ended sql.NullString
	if err := sc.Scan(&s.ID, &started, &ended, &s.State, &s.Options, &s.Targets, &s.Probed, &s.Checkpoint); err != nil {
		return Sweep{}, err
	}
	var err error
	if s.Started, err = parseTS(started); err != nil {
		return Sweep{}, err
	}
	if s.Ended, err = parseNullTS(ended); err != nil {
		return Sweep{}, err
	}
	return s, nil
}

// ErrNoSweep is returned when a sweep asked for does not exist.
var ErrNoSweep = errors.New("no such sweep")

// Sweep reads one sweep.
func (db *DB) Sweep(ctx context.Context, id int64) (Sweep, error) {
	s, err := scanSweep(db.sql.QueryRowContext(ctx, `SELECT `+sweepCols+` FROM sweeps WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return Sweep{}, fmt.Errorf("sweep %d: %w", id, ErrNoSweep)
	}
	if err != nil {
		return Sweep{}, fmt.Errorf("sweep %d: %w", id, err)
	}
	return s, nil
}

// LatestSweep is the sweep started last; ErrNoSweep when there is none.
func (db *DB) LatestSweep(ctx context.Context) (Sweep, error) {
	s, err := scanSweep(db.sql.QueryRowContext(ctx, `SELECT `+sweepCols+` FROM sweeps ORDER BY id DESC LIMIT 1`))
	if err == sql.ErrNoRows {
		return Sweep{}, fmt.Errorf("latest sweep: %w", ErrNoSweep)
	}
	if err != nil {
		return Sweep{}, fmt.Errorf("latest sweep: %w", err)
	}
	return s, nil
}

// ListSweeps is every sweep, newest first.
func (db *DB) ListSweeps(ctx context.Context) ([]Sweep, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+sweepCols+` FROM sweeps ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	defer rows.Close()
	var out []Sweep
	for rows.Next() {
		s, err := scanSweep(rows)
		if err != nil {
			return nil, fmt.Errorf("list sweeps: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Checkpoint records that every target of the sweep before position (in the
// sweep's own target order) is finished. It only moves forward. Prefer
// Writer.Checkpoint while a writer is open: it is ordered after the
// observations already added, so a crash can never leave a checkpoint ahead
// of the results it vouches for.
func (db *DB) Checkpoint(ctx context.Context, sweepID, position int64) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE sweeps SET checkpoint = max(checkpoint, ?) WHERE id = ?`, position, sweepID)
	if err != nil {
		return fmt.Errorf("checkpoint sweep %d: %w", sweepID, db.fileError(err))
	}
	return nil
}

// Writer batching: a transaction per observation costs an fsync-bound
// commit each; batching amortises it (see BenchmarkWriter). Large batches
// matter for big sweeps: targets arrive in random order, so each row dirties
// index pages all over the file, and a commit writes every dirty page once.
// Measured on 300,000 silent targets: 500 per batch gave ~20,000 rows/s,
// 5,000 gave ~62,000. The queue holds a few batches so the sweep does not
// wait while one commits.
const (
	writerBatch = 5000
	writerEvery = 250 * time.Millisecond
	writerQueue = 16384
)

// Writer writes one sweep's observations from a single goroutine in batched
// transactions. Add and Checkpoint are safe for concurrent use.
type Writer struct {
	db      *DB
	sweepID int64
	batch   int
	// replacing is set when the sweep already had observations (a resume):
	// only then can a row replace an earlier one whose findings must go.
	replacing bool
	ch        chan witem
	done      chan struct{}

	mu     sync.RWMutex // guards closed against Add racing Close
	closed bool

	errMu sync.Mutex
	err   error
}

type witem struct {
	obs        Observation
	checkpoint int64
	isCP       bool
}

// NewWriter starts the writer goroutine for sweepID. Close it to flush.
func (db *DB) NewWriter(sweepID int64) *Writer { return db.newWriter(sweepID, writerBatch) }

func (db *DB) newWriter(sweepID int64, batch int) *Writer {
	w := &Writer{db: db, sweepID: sweepID, batch: batch, ch: make(chan witem, writerQueue), done: make(chan struct{})}
	var any int
	if err := db.sql.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM observations WHERE sweep_id = ? LIMIT 1)`, sweepID).Scan(&any); err != nil || any > 0 {
		w.replacing = true // when unsure, take the careful path
	}
	go w.loop()
	return w
}

// Add queues one observation. It blocks only when the queue (16384) is full,
// that is when the disk is slower than the sweep. After Close it records an
// error instead of writing.
func (w *Writer) Add(o Observation) { w.put(witem{obs: o}) }

// Checkpoint queues a checkpoint; it is committed in the same transaction as
// the observations added before it (see DB.Checkpoint).
func (w *Writer) Checkpoint(position int64) { w.put(witem{checkpoint: position, isCP: true}) }

func (w *Writer) put(it witem) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.setErr(errors.New("writer used after Close"))
		return
	}
	w.ch <- it
}

// Close flushes what is queued, stops the goroutine and returns the first
// write error, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	<-w.done
	return w.Err()
}

// Err is the first write error so far.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *Writer) setErr(err error) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(writerEvery)
	defer tick.Stop()
	buf := make([]witem, 0, w.batch)
	flush := func() {
		if len(buf) == 0 {
			return
		}
		// Not the sweep's context: results of a cancelled sweep must still
		// be written.
		if err := w.write(context.Background(), buf); err != nil {
			w.setErr(fmt.Errorf("sweep %d: writing %d observations: %w", w.sweepID, len(buf), err))
		}
		buf = buf[:0]
	}
	for {
		select {
		case it, ok := <-w.ch:
			if !ok {
				flush()
				return
			}
			buf = append(buf, it)
			if len(buf) >= w.batch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

const insertObservation = `
INSERT INTO observations (sweep_id, ip, ip_key, port, status, error, verdict, status_line, server, product, version, os, seen, duration_ms, pos)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (sweep_id, ip_key, port) DO UPDATE SET
	status = excluded.status, error = excluded.error, verdict = excluded.verdict,
	status_line = excluded.status_line, server = excluded.server, product = excluded.product,
	version = excluded.version, os = excluded.os, seen = excluded.seen, duration_ms = excluded.duration_ms,
	pos = excluded.pos
RETURNING id`

const insertObservationPlain = `
INSERT INTO observations (sweep_id, ip, ip_key, port, status, error, verdict, status_line, server, product, version, os, seen, duration_ms, pos)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// write commits one batch. An observation already stored for the same
// sweep, address and port (a resumed sweep re-probing past its checkpoint)
// is replaced, findings included.
func (w *Writer) write(ctx context.Context, items []witem) error {
	return w.db.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, insertObservation)
		if err != nil {
			return err
		}
		defer ins.Close()
		del, err := tx.PrepareContext(ctx, `DELETE FROM findings WHERE observation_id = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		fins, err := tx.PrepareContext(ctx, `INSERT INTO findings (observation_id, code, detail, evidence, source, seen) VALUES (?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer fins.Close()
		plain, err := tx.PrepareContext(ctx, insertObservationPlain)
		if err != nil {
			return err
		}
		defer plain.Close()
		var n, cp int64
		for _, it := range items {
			if it.isCP {
				cp = max(cp, it.checkpoint)
				continue
			}
			o := it.obs
			if !o.Addr.IsValid() {
				return errors.New("observation without an address")
			}
			args := []any{w.sweepID, o.Addr.Unmap().String(), addrKey(o.Addr), int(o.Port), o.Status, o.Error,
				o.Verdict.String(), o.StatusLine, o.Server, o.Product, o.Version, o.OS, fmtTS(o.Seen), o.Duration.Milliseconds(), nullPos(o.Pos)}
			if len(o.Findings) == 0 && !w.replacing {
				// The bulk of a large sweep (closed and silent targets):
				// no id needed, no findings to replace.
				if _, err := plain.ExecContext(ctx, args...); err != nil {
					return fmt.Errorf("%s:%d: %w", o.Addr, o.Port, err)
				}
				n++
				continue
			}
			var id int64
			if err := ins.QueryRowContext(ctx, args...).Scan(&id); err != nil {
				return fmt.Errorf("%s:%d: %w", o.Addr, o.Port, err)
			}
			if w.replacing {
				if _, err := del.ExecContext(ctx, id); err != nil {
					return err
				}
			}
			for _, f := range o.Findings {
				src := f.Source
				if src == "" {
					src = triage.SourceSweep
				}
				seen := f.Seen
				if seen.IsZero() {
					seen = o.Seen
				}
				if _, err := fins.ExecContext(ctx, id, f.Code, f.Detail, f.Evidence, src, fmtTS(seen)); err != nil {
					return fmt.Errorf("%s:%d finding %s: %w", o.Addr, o.Port, f.Code, err)
				}
			}
			n++
		}
		_, err = tx.ExecContext(ctx, `UPDATE sweeps SET probed = probed + ?, checkpoint = max(checkpoint, ?) WHERE id = ?`, n, cp, w.sweepID)
		return err
	})
}

const observationCols = `o.id, o.sweep_id, o.ip, o.port, o.status, o.error, o.verdict, o.status_line, o.server, o.product, o.version, o.os, o.seen, o.duration_ms`

// scanObservation reads observationCols followed by the finding columns of
// a LEFT JOIN (all NULL when the observation has none).
func scanObservationRow(sc interface{ Scan(...any) error }) (id int64, o Observation, f *triage.Finding, err error) {
	var ip, verdict, seen string
	var port int
	var ms int64
	var fCode, fDetail, fEvidence, fSource, fSeen sql.NullString
	if err = sc.Scan(&id, &o.SweepID, &ip, &port, &o.Status, &o.Error, &verdict, &o.StatusLine, &o.Server, &o.Product, &o.Version, &o.OS, &seen, &ms,
		&fCode, &fDetail, &fEvidence, &fSource, &fSeen); err != nil {
		return
	}
	if o.Addr, err = netip.ParseAddr(ip); err != nil {
		err = fmt.Errorf("observation %d: bad ip %q", id, ip)
		return
	}
	o.Port = uint16(port)
	if o.Verdict, err = triage.ParseVerdict(verdict); err != nil {
		err = fmt.Errorf("observation %d: %w", id, err)
		return
	}
	if o.Seen, err = parseTS(seen); err != nil {
		return
	}
	o.Duration = time.Duration(ms) * time.Millisecond
	if fCode.Valid {
		f = &triage.Finding{Code: fCode.String, Detail: fDetail.String, Evidence: fEvidence.String, Source: fSource.String}
		if f.Seen, err = parseTS(fSeen.String); err != nil {
			return
		}
	}
	return
}

// queryObservations streams observations (with findings) matching where,
// ordered by observation id.
func (db *DB) queryObservations(ctx context.Context, with, where string, args []any, fn func(Observation) error) error {
	rows, err := db.sql.QueryContext(ctx, with+` SELECT `+observationCols+`, f.code, f.detail, f.evidence, f.source, f.seen
		FROM observations o LEFT JOIN findings f ON f.observation_id = o.id
		WHERE `+where+` ORDER BY o.id, f.id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur Observation
	curID := int64(-1)
	for rows.Next() {
		id, o, f, err := scanObservationRow(rows)
		if err != nil {
			return err
		}
		if id != curID {
			if curID >= 0 {
				if err := fn(cur); err != nil {
					return err
				}
			}
			cur, curID = o, id
		}
		if f != nil {
			cur.Findings = append(cur.Findings, *f)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if curID >= 0 {
		return fn(cur)
	}
	return nil
}

// Observations streams every observation of a sweep, failures included, in
// the order they were written, each with its findings. fn must not use the
// database (the read stays open while it runs); an error from fn stops the
// stream and is returned.
func (db *DB) Observations(ctx context.Context, sweepID int64, fn func(Observation) error) error {
	if _, err := db.Sweep(ctx, sweepID); err != nil {
		return err
	}
	if err := db.queryObservations(ctx, "", "o.sweep_id = ?", []any{sweepID}, fn); err != nil {
		return fmt.Errorf("observations of sweep %d: %w", sweepID, err)
	}
	return nil
}

// worst is the observation with the worst verdict of a list (one address,
// several ports), findings of all of them merged.
func worst(obs []Observation) Observation {
	w := obs[0]
	for _, o := range obs[1:] {
		if o.Verdict > w.Verdict {
			w = o
		}
	}
	var fs []triage.Finding
	for _, o := range obs {
		fs = append(fs, o.Findings...)
	}
	w.Findings = slices.Clip(fs)
	return w
}

func nullPos(p int64) any {
	if p < 0 {
		return nil
	}
	return p
}

// FinishedPositions returns the positions at or beyond from that sweep
// sweepID already has observations for. A resumed sweep skips them; there
// are few, since the checkpoint trails the finished targets only by what
// was in flight.
func (db *DB) FinishedPositions(ctx context.Context, sweepID, from int64) (map[int64]bool, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT pos FROM observations WHERE sweep_id = ? AND pos >= ?`, sweepID, from)
	if err != nil {
		return nil, fmt.Errorf("sweep %d: finished positions: %w", sweepID, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out[p] = true
	}
	return out, rows.Err()
}
