package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ImportStats counts customers (not rows) touched by an import.
type ImportStats struct {
	Added      int // customer ids new to the database
	Updated    int // existing customers whose details or addresses changed
	Unchanged  int
	Reassigned int // addresses taken over from another customer (DHCP moves)
}

// ImportCustomers upserts a roster in one transaction: on any error nothing
// is written. For each customer id in cs, its name, phone and plan are
// replaced and its current addresses become exactly the ones in cs: an
// address it no longer has is closed (valid_to = now) rather than deleted, so
// that older evidence is still attributed to whoever held the address then.
// An address now given to another customer is closed for its old holder.
// Customers absent from cs are left as they are.
func (db *DB) ImportCustomers(ctx context.Context, cs []Customer, source string) (ImportStats, error) {
	return db.importCustomers(ctx, cs, source, time.Now())
}

type curAddr struct {
	id         int64
	customerID string
	addr       netip.Prefix
	subnet     string
}

type person struct{ name, phone, plan string }

func (db *DB) importCustomers(ctx context.Context, cs []Customer, source string, now time.Time) (ImportStats, error) {
	var st ImportStats
	if err := validateCustomers(cs); err != nil {
		return st, fmt.Errorf("import %s: %w", source, err)
	}
	// Group rows by customer, in first-seen order.
	var order []string
	want := map[string][]Customer{}
	for _, c := range cs {
		if _, ok := want[c.ID]; !ok {
			order = append(order, c.ID)
		}
		want[c.ID] = append(want[c.ID], c)
	}
	nowS := fmtTS(now)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		people := map[string]person{}
		rows, err := tx.QueryContext(ctx, `SELECT id, name, phone, plan FROM customers`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var p person
			if err := rows.Scan(&id, &p.name, &p.phone, &p.plan); err != nil {
				rows.Close()
				return err
			}
			people[id] = p
		}
		if err := rows.Close(); err != nil {
			return err
		}
		cur := map[netip.Prefix]*curAddr{} // current holder of each block
		held := map[netip.Prefix]bool{}    // every block ever held
		rows, err = tx.QueryContext(ctx, `SELECT id, customer_id, addr, subnet, valid_to IS NULL FROM customer_addrs`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a curAddr
			var s string
			var current bool
			if err := rows.Scan(&a.id, &a.customerID, &s, &a.subnet, &current); err != nil {
				rows.Close()
				return err
			}
			if a.addr, err = netip.ParsePrefix(s); err != nil {
				rows.Close()
				return fmt.Errorf("bad address %q in customer_addrs row %d: %w", s, a.id, err)
			}
			held[a.addr] = true
			if current {
				cur[a.addr] = &a
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		closeRow := func(a *curAddr) error {
			_, err := tx.ExecContext(ctx, `UPDATE customer_addrs SET valid_to = ? WHERE id = ?`, nowS, a.id)
			delete(cur, a.addr)
			return err
		}
		for _, id := range order {
			rs := want[id]
			p := person{rs[0].Name, rs[0].Phone, rs[0].Plan}
			old, exists := people[id]
			changed := false
			switch {
			case !exists:
				if _, err := tx.ExecContext(ctx, `INSERT INTO customers (id, name, phone, plan, imported_at, source) VALUES (?,?,?,?,?,?)`,
					id, p.name, p.phone, p.plan, nowS, source); err != nil {
					return fmt.Errorf("customer %s: %w", id, err)
				}
			case old != p:
				changed = true
			}
			desired := map[netip.Prefix]string{}
			for _, r := range rs {
				desired[r.Addr] = r.Subnet.String()
			}
			// Addresses this customer no longer has.
			for pfx, a := range cur {
				if a.customerID != id {
					continue
				}
				sub, keep := desired[pfx]
				if !keep {
					if err := closeRow(a); err != nil {
						return err
					}
					changed = true
				} else if sub != a.subnet {
					if _, err := tx.ExecContext(ctx, `UPDATE customer_addrs SET subnet = ? WHERE id = ?`, sub, a.id); err != nil {
						return err
					}
					a.subnet = sub
					changed = true
				}
			}
			for _, r := range rs {
				if a, ok := cur[r.Addr]; ok && a.customerID == id {
					continue
				}
				moved := false
				for _, a := range overlapping(cur, r.Addr) {
					if err := closeRow(a); err != nil {
						return err
					}
					st.Reassigned++
					moved = true
				}
				// NULL valid_from: nobody else is on record for this
				// block, so this customer is taken to have always held it.
				from := sql.NullString{}
				if moved || held[r.Addr] || exists {
					from = sql.NullString{String: nowS, Valid: true}
				}
				lo, hi := prefixRange(r.Addr)
				res, err := tx.ExecContext(ctx, `INSERT INTO customer_addrs (customer_id, addr, subnet, lo, hi, valid_from, source) VALUES (?,?,?,?,?,?,?)`,
					id, r.Addr.String(), r.Subnet.String(), lo, hi, from, source)
				if err != nil {
					return fmt.Errorf("customer %s address %s: %w", id, r.Addr, err)
				}
				rid, _ := res.LastInsertId()
				cur[r.Addr] = &curAddr{id: rid, customerID: id, addr: r.Addr, subnet: r.Subnet.String()}
				held[r.Addr] = true
				changed = changed || exists
			}
			if exists && changed {
				if _, err := tx.ExecContext(ctx, `UPDATE customers SET name = ?, phone = ?, plan = ?, imported_at = ?, source = ? WHERE id = ?`,
					p.name, p.phone, p.plan, nowS, source, id); err != nil {
					return fmt.Errorf("customer %s: %w", id, err)
				}
			}
			switch {
			case !exists:
				st.Added++
			case changed:
				st.Updated++
			default:
				st.Unchanged++
			}
		}
		return nil
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("import %s: %w", source, err)
	}
	return st, nil
}

// overlapping lists current blocks that share an address with p. CIDR
// blocks nest or are disjoint, so these are the blocks containing p and the
// blocks inside it.
func overlapping(cur map[netip.Prefix]*curAddr, p netip.Prefix) []*curAddr {
	var out []*curAddr
	for bits := p.Bits(); bits >= 0; bits-- {
		q, _ := p.Addr().Prefix(bits)
		if a, ok := cur[q]; ok {
			out = append(out, a)
		}
	}
	if p.Bits() < p.Addr().BitLen() {
		for q, a := range cur {
			if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
				out = append(out, a)
			}
		}
	}
	return out
}

// validateCustomers is the store's own guard: roster.Read checks the same,
// but the database must stay consistent whoever calls it.
func validateCustomers(cs []Customer) error {
	people := map[string]Customer{}
	prefixes := make([]netip.Prefix, 0, len(cs))
	owner := map[netip.Prefix]string{}
	for i, c := range cs {
		switch {
		case c.ID == "":
			return fmt.Errorf("row %d: empty customer id", i+1)
		case !c.Addr.IsValid() || c.Addr.Masked() != c.Addr:
			return fmt.Errorf("customer %s: invalid address block %s", c.ID, c.Addr)
		case !c.Subnet.IsValid() || c.Subnet.Bits() > c.Addr.Bits() || !c.Subnet.Contains(c.Addr.Addr()):
			return fmt.Errorf("customer %s: address %s is not inside subnet %s", c.ID, c.Addr, c.Subnet)
		}
		if p, ok := people[c.ID]; ok && (p.Name != c.Name || p.Phone != c.Phone || p.Plan != c.Plan) {
			return fmt.Errorf("customer %s appears twice with different details", c.ID)
		}
		people[c.ID] = c
		if o, ok := owner[c.Addr]; ok {
			return fmt.Errorf("address %s given to both %s and %s", c.Addr, o, c.ID)
		}
		owner[c.Addr] = c.ID
		prefixes = append(prefixes, c.Addr)
	}
	if a, b, ok := findOverlap(prefixes); ok {
		return fmt.Errorf("address %s (customer %s) overlaps %s (customer %s)", b, owner[b], a, owner[a])
	}
	return nil
}

// findOverlap reports two distinct prefixes of ps where one contains the other.
func findOverlap(ps []netip.Prefix) (outer, inner netip.Prefix, ok bool) {
	s := sortPrefixes(slices.Clone(ps))
	var stack []netip.Prefix
	for _, p := range s {
		for len(stack) > 0 && !stack[len(stack)-1].Contains(p.Addr()) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1] != p {
			return stack[len(stack)-1], p, true
		}
		stack = append(stack, p)
	}
	return netip.Prefix{}, netip.Prefix{}, false
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return ps
}

// RosterPrefixes is every address block customers hold now, merged: blocks
// inside another are dropped and adjacent halves are joined, so a scope
// check or a target generator walks the fewest blocks.
func (db *DB) RosterPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT addr FROM customer_addrs WHERE valid_to IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("roster prefixes: %w", err)
	}
	defer rows.Close()
	var ps []netip.Prefix
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("roster prefixes: %w", err)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("roster prefixes: bad address %q in database", s)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("roster prefixes: %w", err)
	}
	return mergePrefixes(ps), nil
}

// RosterSubnets is every distinct subnet customers' lines sit on now. The
// sweep refuses each IPv4 subnet's directed-broadcast address.
func (db *DB) RosterSubnets(ctx context.Context) ([]netip.Prefix, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT subnet FROM customer_addrs WHERE valid_to IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("roster subnets: %w", err)
	}
	defer rows.Close()
	var ps []netip.Prefix
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("roster subnets: %w", err)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("roster subnets: bad subnet %q in database", s)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func mergePrefixes(ps []netip.Prefix) []netip.Prefix {
	ps = sortPrefixes(ps)
	var out []netip.Prefix
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
		// Join siblings bottom-up: 10.0.0.0/25 + 10.0.0.128/25 → /24.
		for n := len(out); n >= 2; n = len(out) {
			a, b := out[n-2], out[n-1]
			if a.Bits() != b.Bits() || a.Bits() == 0 || a.Addr().Is4() != b.Addr().Is4() {
				break
			}
			parent, _ := a.Addr().Prefix(a.Bits() - 1)
			if parent.Addr() != a.Addr() || !parent.Contains(b.Addr()) {
				break
			}
			out = append(out[:n-2], parent)
		}
	}
	return out
}

// CustomerFor is the customer who held addr at time at, the most specific
// block first. ok is false when nobody on the roster held it.
func (db *DB) CustomerFor(ctx context.Context, addr netip.Addr, at time.Time) (c Customer, ok bool, err error) {
	k := addrKey(addr)
	t := fmtTS(at)
	var a, sub string
	// Walking lo downwards from addr, the first block that contains addr and
	// was valid at t is the most specific one.
	err = db.sql.QueryRowContext(ctx, `
		SELECT c.id, c.name, c.phone, c.plan, a.addr, a.subnet
		FROM customer_addrs a JOIN customers c ON c.id = a.customer_id
		WHERE a.lo <= ? AND a.hi >= ?
		  AND (a.valid_from IS NULL OR a.valid_from <= ?)
		  AND (a.valid_to IS NULL OR a.valid_to > ?)
		ORDER BY a.lo DESC LIMIT 1`, k, k, t, t).Scan(&c.ID, &c.Name, &c.Phone, &c.Plan, &a, &sub)
	if err == sql.ErrNoRows {
		return Customer{}, false, nil
	}
	if err != nil {
		return Customer{}, false, fmt.Errorf("customer for %s: %w", addr, err)
	}
	if c.Addr, err = netip.ParsePrefix(a); err != nil {
		return Customer{}, false, fmt.Errorf("customer for %s: bad address %q in database", addr, a)
	}
	if c.Subnet, err = netip.ParsePrefix(sub); err != nil {
		return Customer{}, false, fmt.Errorf("customer for %s: bad subnet %q in database", addr, sub)
	}
	return c, true, nil
}

// holder is one customer_addrs row with its customer, for in-memory
// attribution of many addresses at once.
type holder struct {
	c        Customer
	from, to time.Time // zero: open-ended
}

func (h holder) validAt(t time.Time) bool {
	return (h.from.IsZero() || !t.Before(h.from)) && (h.to.IsZero() || t.Before(h.to))
}

// holders indexes the whole address history by block.
type holders struct {
	byPrefix map[netip.Prefix][]holder
	lens4    []int // block lengths present, longest first
	lens6    []int
	subnetN  map[netip.Prefix]int // current customers per subnet
}

func (db *DB) loadHolders(ctx context.Context) (*holders, error) {
	rows, err := db.sql.QueryContext(ctx, `
		SELECT c.id, c.name, c.phone, c.plan, a.addr, a.subnet, a.valid_from, a.valid_to
		FROM customer_addrs a JOIN customers c ON c.id = a.customer_id`)
	if err != nil {
		return nil, fmt.Errorf("load roster: %w", err)
	}
	defer rows.Close()
	h := &holders{byPrefix: map[netip.Prefix][]holder{}, subnetN: map[netip.Prefix]int{}}
	seen4, seen6 := map[int]bool{}, map[int]bool{}
	perSubnet := map[netip.Prefix]map[string]bool{}
	for rows.Next() {
		var x holder
		var a, sub string
		var from, to sql.NullString
		if err := rows.Scan(&x.c.ID, &x.c.Name, &x.c.Phone, &x.c.Plan, &a, &sub, &from, &to); err != nil {
			return nil, fmt.Errorf("load roster: %w", err)
		}
		if x.c.Addr, err = netip.ParsePrefix(a); err != nil {
			return nil, fmt.Errorf("load roster: bad address %q", a)
		}
		if x.c.Subnet, err = netip.ParsePrefix(sub); err != nil {
			return nil, fmt.Errorf("load roster: bad subnet %q", sub)
		}
		if x.from, err = parseNullTS(from); err != nil {
			return nil, err
		}
		if x.to, err = parseNullTS(to); err != nil {
			return nil, err
		}
		h.byPrefix[x.c.Addr] = append(h.byPrefix[x.c.Addr], x)
		if x.c.Addr.Addr().Is4() {
			seen4[x.c.Addr.Bits()] = true
		} else {
			seen6[x.c.Addr.Bits()] = true
		}
		if !to.Valid {
			if perSubnet[x.c.Subnet] == nil {
				perSubnet[x.c.Subnet] = map[string]bool{}
			}
			perSubnet[x.c.Subnet][x.c.ID] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load roster: %w", err)
	}
	for n := range seen4 {
		h.lens4 = append(h.lens4, n)
	}
	for n := range seen6 {
		h.lens6 = append(h.lens6, n)
	}
	slices.Sort(h.lens4)
	slices.Reverse(h.lens4)
	slices.Sort(h.lens6)
	slices.Reverse(h.lens6)
	for s, ids := range perSubnet {
		h.subnetN[s] = len(ids)
	}
	return h, nil
}

// at is the customer who held addr at t, most specific block first.
func (h *holders) at(addr netip.Addr, t time.Time) (Customer, bool) {
	addr = addr.Unmap()
	lens := h.lens6
	if addr.Is4() {
		lens = h.lens4
	}
	for _, n := range lens {
		p, err := addr.Prefix(n)
		if err != nil {
			continue
		}
		for _, x := range h.byPrefix[p] {
			if x.validAt(t) {
				return x.c, true
			}
		}
	}
	return Customer{}, false
}
