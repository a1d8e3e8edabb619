package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"time"

	"redsweep/triage"
)

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// holderAt is the customer id holding addr at t ("" when none).
func holderAt(ctx context.Context, q querier, addr netip.Addr, t time.Time) (string, error) {
	k, ts := addrKey(addr), fmtTS(t)
	var id string
	err := q.QueryRowContext(ctx, `SELECT customer_id FROM customer_addrs
		WHERE lo <= ? AND hi >= ? AND (valid_from IS NULL OR valid_from <= ?) AND (valid_to IS NULL OR valid_to > ?)
		ORDER BY lo DESC LIMIT 1`, k, k, ts, ts).Scan(&id)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return id, err
}

// AddEvidence stores passive evidence in one transaction. Evidence with the
// same source, address, code and reporter is merged: the seen window widens,
// counts add up, distinct targets keep the larger figure (the sets are not
// stored, so this is a lower bound), and the sample of the earliest sighting
// is kept. An empty CustomerID is filled with the customer who held the
// address at FirstSeen. Note: adding the same file twice counts it twice.
func (db *DB) AddEvidence(ctx context.Context, evs []Evidence) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `
INSERT INTO evidence (source, ip, ip_key, code, first_seen, last_seen, count, distinct_targets, reporter, origin, sample, customer_id)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (source, ip, code, reporter) DO UPDATE SET
	origin = CASE WHEN excluded.first_seen < first_seen THEN excluded.origin ELSE origin END,
	sample = CASE WHEN excluded.first_seen < first_seen THEN excluded.sample ELSE sample END,
	customer_id = CASE WHEN excluded.first_seen < first_seen THEN excluded.customer_id ELSE customer_id END,
	first_seen = min(first_seen, excluded.first_seen),
	last_seen = max(last_seen, excluded.last_seen),
	count = count + excluded.count,
	distinct_targets = max(distinct_targets, excluded.distinct_targets)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, e := range evs {
			if err := checkEvidence(&e); err != nil {
				return fmt.Errorf("evidence %d (%s): %w", i+1, e.Origin, err)
			}
			if e.CustomerID == "" {
				if e.CustomerID, err = holderAt(ctx, tx, e.Addr, e.FirstSeen); err != nil {
					return err
				}
			}
			a := e.Addr.Unmap()
			if _, err := st.ExecContext(ctx, e.Source, a.String(), addrKey(a), e.Code, fmtTS(e.FirstSeen), fmtTS(e.LastSeen),
				e.Count, e.DistinctTargets, e.Reporter, e.Origin, e.Sample, e.CustomerID); err != nil {
				return fmt.Errorf("evidence %d (%s): %w", i+1, e.Origin, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add evidence: %w", err)
	}
	return nil
}

func checkEvidence(e *Evidence) error {
	switch {
	case e.Source != triage.SourceCapture && e.Source != triage.SourceReport:
		return fmt.Errorf("source %q is not %s or %s", e.Source, triage.SourceCapture, triage.SourceReport)
	case !e.Addr.IsValid():
		return fmt.Errorf("no address")
	case e.Code == "":
		return fmt.Errorf("no finding code")
	case e.FirstSeen.IsZero():
		return fmt.Errorf("no time")
	case e.Count < 0 || e.DistinctTargets < 0:
		return fmt.Errorf("negative count")
	}
	if e.LastSeen.Before(e.FirstSeen) {
		e.LastSeen = e.FirstSeen
	}
	return nil
}

const evidenceCols = `source, ip, code, first_seen, last_seen, count, distinct_targets, reporter, origin, sample, customer_id`

func scanEvidence(sc interface{ Scan(...any) error }) (Evidence, error) {
	var e Evidence
	var ip, first, last string
	if err := sc.Scan(&e.Source, &ip, &e.Code, &first, &last, &e.Count, &e.DistinctTargets, &e.Reporter, &e.Origin, &e.Sample, &e.CustomerID); err != nil {
		return e, err
	}
	var err error
	if e.Addr, err = netip.ParseAddr(ip); err != nil {
		return e, fmt.Errorf("evidence: bad ip %q", ip)
	}
	if e.FirstSeen, err = parseTS(first); err != nil {
		return e, err
	}
	if e.LastSeen, err = parseTS(last); err != nil {
		return e, err
	}
	return e, nil
}

func (db *DB) queryEvidence(ctx context.Context, where string, args ...any) ([]Evidence, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+evidenceCols+` FROM evidence WHERE `+where+` ORDER BY last_seen, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		e, err := scanEvidence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// evidenceSince is every piece of evidence last seen at or after t.
func (db *DB) evidenceSince(ctx context.Context, t time.Time) ([]Evidence, error) {
	return db.queryEvidence(ctx, `last_seen >= ?`, fmtTS(t))
}

// EvidenceFor is the passive evidence about one address, oldest first.
func (db *DB) EvidenceFor(ctx context.Context, addr netip.Addr) ([]Evidence, error) {
	evs, err := db.queryEvidence(ctx, `ip_key = ?`, addrKey(addr))
	if err != nil {
		return nil, fmt.Errorf("evidence for %s: %w", addr, err)
	}
	return evs, nil
}
