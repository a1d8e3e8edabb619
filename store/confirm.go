package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"redsweep/triage"
)

// Some findings only a --confirm sweep can make (triage.ConfirmOnly): the
// Code Red II backdoor, and whether MS01-033 is installed. An hourly cron
// rescan without --confirm cannot see them, so its verdict alone would call
// a backdoored host "cleaned" and a patched one "vulnerable" again. The
// store therefore carries the confirm-only findings of the latest --confirm
// sweep of each address forward onto later sweeps that ran without it,
// until another --confirm sweep looks again.

// confirmCarry holds, per address, what its latest --confirm sweep found.
type confirmCarry struct {
	confirm map[int64]bool // sweep id → ran with --confirm
	latest  map[netip.Addr]carried
}

type carried struct {
	sweepID  int64
	findings []triage.Finding // confirm-only findings; empty: it looked and found none
}

// loadConfirmCarry reads the --confirm sweeps up to and including asOf (0: all).
func (db *DB) loadConfirmCarry(ctx context.Context, asOf int64) (*confirmCarry, error) {
	c := &confirmCarry{confirm: map[int64]bool{}, latest: map[netip.Addr]carried{}}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, options FROM sweeps`)
	if err != nil {
		return nil, fmt.Errorf("confirm sweeps: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		var opts string
		if err := rows.Scan(&id, &opts); err != nil {
			rows.Close()
			return nil, err
		}
		var o struct {
			Confirm bool `json:"confirm"`
		}
		if json.Unmarshal([]byte(opts), &o) == nil && o.Confirm && (asOf <= 0 || id <= asOf) {
			c.confirm[id] = true
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return c, nil
	}
	// Observations of the confirm sweeps, oldest sweep first, so the latest
	// one per address wins; findings joined in (NULL when none).
	q := `SELECT o.ip, o.sweep_id, f.code, f.detail, f.evidence, f.source, f.seen
		FROM observations o LEFT JOIN findings f ON f.observation_id = o.id
		WHERE o.status <> 'out-of-scope' AND o.sweep_id IN (?` + repeat(",?", len(ids)-1) + `)
		ORDER BY o.sweep_id, o.id`
	frows, err := db.sql.QueryContext(ctx, q, ids...)
	if err != nil {
		return nil, fmt.Errorf("confirm findings: %w", err)
	}
	defer frows.Close()
	for frows.Next() {
		var ip string
		var sweepID int64
		var code, detail, evidence, source, seen sql.NullString
		if err := frows.Scan(&ip, &sweepID, &code, &detail, &evidence, &source, &seen); err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		cur := c.latest[a]
		if cur.sweepID != sweepID {
			cur = carried{sweepID: sweepID}
		}
		if code.Valid && slices.Contains(triage.ConfirmOnly, code.String) {
			f := triage.Finding{Code: code.String, Detail: detail.String, Evidence: evidence.String, Source: source.String}
			if t, err := parseTS(seen.String); err == nil {
				f.Seen = t
			}
			cur.findings = append(cur.findings, f)
		}
		c.latest[a] = cur
	}
	return c, frows.Err()
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// apply returns o with the confirm-only knowledge of an earlier --confirm
// sweep added, when o's own sweep ran without --confirm.
func (c *confirmCarry) apply(o Observation) Observation {
	if c == nil || c.confirm[o.SweepID] {
		return o
	}
	k, ok := c.latest[o.Addr]
	if !ok || k.sweepID > o.SweepID || len(k.findings) == 0 {
		return o
	}
	fs := slices.Clone(o.Findings)
	patched := false
	for _, f := range k.findings {
		f.Detail += fmt.Sprintf(" (found by --confirm sweep #%d; sweep #%d ran without --confirm and could not check it)", k.sweepID, o.SweepID)
		fs = append(fs, f)
		patched = patched || f.Code == triage.MS01033Patched
	}
	if patched {
		// As triage.Judge does under --confirm: a patched host's .ida
		// mapping is no longer a hole.
		fs = slices.DeleteFunc(fs, func(f triage.Finding) bool { return f.Code == triage.IdaMapped })
	}
	// A sweep without --confirm can only reach "vulnerable" through the
	// mapping, so once the host is known patched that verdict drops to iis.
	v := o.Verdict
	if patched && v == triage.Vulnerable {
		v = triage.IIS
	}
	for _, f := range k.findings {
		v = max(v, triage.Severity(f.Code))
	}
	o.Findings, o.Verdict = fs, v
	return o
}
