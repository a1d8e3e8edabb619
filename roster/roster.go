// Package roster reads the ISP's customer roster CSV into store.Customer
// values. It validates every row and names file, line and field in its
// errors, so that a NOC engineer can fix the spreadsheet without guessing.
// It speaks no SQL: the store imports what Read returns.
package roster

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"redsweep/store"
)

// Options tune how rows become customers.
type Options struct {
	// GroupPrefix4 is the subnet length used for IPv4 rows with an empty
	// subnet column (default 24: the usual shared segment).
	GroupPrefix4 int
	// GroupPrefix6 is the same for IPv6 rows (default 64).
	GroupPrefix6 int
}

// Limits on a single row's address block: a roster row wider than these is
// almost certainly a typo (10.0.0.0/8 for 10.0.0.8) and would make a sweep
// probe millions of addresses.
const (
	MinBlockBits4 = 16
	MinBlockBits6 = 48
)

// MaxErrors is how many bad rows Read reports before it stops listing them.
const MaxErrors = 20

// Column names, as the header spells them (case-insensitive).
const (
	colIP       = "ip"
	colCustomer = "customer_id"
	colName     = "name"
	colPhone    = "phone"
	colSubnet   = "subnet"
	colPlan     = "plan"
)

var (
	requiredCols = []string{colIP, colCustomer, colName, colPhone}
	knownCols    = []string{colIP, colCustomer, colName, colPhone, colSubnet, colPlan}
)

// Error is one problem in the roster, at a line and (when known) a field.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the problem is the file as a whole
	Field string // column name; "" when the problem is the whole line
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ", field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (o Options) withDefaults() (Options, error) {
	if o.GroupPrefix4 == 0 {
		o.GroupPrefix4 = 24
	}
	if o.GroupPrefix6 == 0 {
		o.GroupPrefix6 = 64
	}
	if o.GroupPrefix4 < 8 || o.GroupPrefix4 > 32 {
		return o, fmt.Errorf("group prefix /%d for IPv4 is out of range (8..32)", o.GroupPrefix4)
	}
	if o.GroupPrefix6 < 16 || o.GroupPrefix6 > 128 {
		return o, fmt.Errorf("group prefix /%d for IPv6 is out of range (16..128)", o.GroupPrefix6)
	}
	return o, nil
}

// row is a parsed customer with the line it came from, for cross-row checks.
type row struct {
	c    store.Customer
	line int
}

// Read parses a roster CSV. name is the file name used in errors. It returns
// every customer address (one Customer per row; a customer with several
// lines has several rows with the same ID) or, when any row is bad, an error
// listing up to MaxErrors problems and no customers at all: a roster is
// imported whole or not at all.
func Read(r io.Reader, name string, opt Options) ([]store.Customer, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	// Excel writes a UTF-8 byte order mark; it would otherwise become part
	// of the first column name.
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // counted here, to name the line in our words
	cr.ReuseRecord = false

	p := &parser{name: name, opt: opt}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{File: name, Msg: "is empty; expected a header row: ip,customer_id,name,phone[,subnet][,plan]"}
	}
	if err != nil {
		return nil, p.csvError(err)
	}
	if err := p.header(header); err != nil {
		return nil, err
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A quoting error leaves the reader's position uncertain: stop
			// here rather than report confusing follow-on errors.
			p.add(p.csvError(err))
			break
		}
		line, _ := cr.FieldPos(0)
		if c, ok := p.record(rec, line); ok {
			rows = append(rows, row{c: c, line: line})
		}
		if p.full() {
			break
		}
	}
	if !p.full() {
		rows = p.crossCheck(rows)
	}
	if len(p.errs) == 0 && len(rows) == 0 {
		return nil, &Error{File: name, Msg: "has a header but no customer rows"}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	out := make([]store.Customer, len(rows))
	for i, r := range rows {
		out[i] = r.c
	}
	return out, nil
}

type parser struct {
	name  string
	opt   Options
	cols  map[string]int // column name → index in a record
	ncols int
	errs  []error
	hdr   []string // lower-cased column names, for field errors
}

func (p *parser) add(err error) {
	if len(p.errs) >= MaxErrors {
		return
	}
	p.errs = append(p.errs, err)
}

func (p *parser) full() bool { return len(p.errs) >= MaxErrors }

func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	// Row checks and cross-row checks run in two passes; report in file order.
	errs := slices.Clone(p.errs)
	slices.SortStableFunc(errs, func(a, b error) int { return lineOf(a) - lineOf(b) })
	if p.full() {
		errs = append(errs, fmt.Errorf("%s: stopped after %d errors", p.name, MaxErrors))
	}
	return errors.Join(errs...)
}

func lineOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}

func (p *parser) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: p.name, Line: pe.Line, Msg: pe.Err.Error()}
	}
	return fmt.Errorf("%s: %w", p.name, err)
}

func (p *parser) header(h []string) error {
	if len(h) == 1 {
		for _, d := range []struct{ sep, name string }{{";", "';'"}, {"\t", "tab"}, {"|", "'|'"}} {
			if strings.Contains(h[0], d.sep) {
				return &Error{File: p.name, Line: 1, Msg: fmt.Sprintf("header looks like %s-separated; redsweep expects commas", d.name)}
			}
		}
	}
	p.cols = make(map[string]int, len(h))
	p.ncols = len(h)
	p.hdr = make([]string, len(h))
	var unknown []string
	for i, raw := range h {
		n := strings.ToLower(strings.TrimSpace(raw))
		p.hdr[i] = n
		if n == "" {
			unknown = append(unknown, fmt.Sprintf("(empty, column %d)", i+1))
			continue
		}
		if !slices.Contains(knownCols, n) {
			unknown = append(unknown, strconvQuote(raw))
			continue
		}
		if _, dup := p.cols[n]; dup {
			return &Error{File: p.name, Line: 1, Msg: fmt.Sprintf("column %q appears twice in the header", n)}
		}
		p.cols[n] = i
	}
	if len(unknown) > 0 {
		return &Error{File: p.name, Line: 1, Msg: fmt.Sprintf("unknown column(s) %s; known columns are %s",
			strings.Join(unknown, ", "), strings.Join(knownCols, ", "))}
	}
	var missing []string
	for _, c := range requiredCols {
		if _, ok := p.cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &Error{File: p.name, Line: 1, Msg: fmt.Sprintf("header lacks required column(s) %s (have %s)",
			strings.Join(missing, ", "), strings.Join(p.hdr, ","))}
	}
	return nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func (p *parser) field(rec []string, col string) string {
	i, ok := p.cols[col]
	if !ok {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// record validates one data row; problems are added to p.errs.
func (p *parser) record(rec []string, line int) (store.Customer, bool) {
	if len(rec) != p.ncols {
		p.add(&Error{File: p.name, Line: line, Msg: fmt.Sprintf("has %d fields, the header has %d", len(rec), p.ncols)})
		return store.Customer{}, false
	}
	ok := true
	bad := func(field, format string, args ...any) {
		p.add(&Error{File: p.name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
		ok = false
	}
	for i, v := range rec {
		if !utf8.ValidString(v) {
			bad(p.hdr[i], "is not valid UTF-8 (save the file as UTF-8)")
		} else if strings.ContainsFunc(v, unicode.IsControl) {
			bad(p.hdr[i], "%q contains a control character", v)
		}
	}
	if !ok {
		return store.Customer{}, false
	}
	c := store.Customer{
		ID:    p.field(rec, colCustomer),
		Name:  p.field(rec, colName),
		Phone: p.field(rec, colPhone),
		Plan:  p.field(rec, colPlan),
	}
	if c.ID == "" {
		bad(colCustomer, "is empty")
	}
	if c.Phone != "" && !strings.ContainsFunc(c.Phone, unicode.IsDigit) {
		bad(colPhone, "%q has no digits", c.Phone)
	}
	addr, err := ParseBlock(p.field(rec, colIP))
	if err != nil {
		bad(colIP, "%v", err)
	} else {
		c.Addr = addr
		if msg := checkWidth(addr); msg != "" {
			bad(colIP, "%s", msg)
		}
	}
	if s := p.field(rec, colSubnet); s != "" {
		sub, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			bad(colSubnet, "%q is not a CIDR block (e.g. 10.1.2.0/24)", s)
		case sub.Addr().Zone() != "":
			bad(colSubnet, "%q has a zone; zones are not allowed", s)
		case sub.Masked() != sub:
			bad(colSubnet, "%q has host bits set; did you mean %s?", s, sub.Masked())
		default:
			c.Subnet = unmapPrefix(sub)
		}
		if c.Addr.IsValid() && c.Subnet.IsValid() {
			if c.Addr.Addr().Is4() != c.Subnet.Addr().Is4() {
				bad(colSubnet, "%s and ip %s are of different address families", c.Subnet, c.Addr)
			} else if c.Subnet.Bits() > c.Addr.Bits() || !c.Subnet.Contains(c.Addr.Addr()) {
				bad(colSubnet, "ip %s is not inside subnet %s", c.Addr, c.Subnet)
			}
		}
	} else if c.Addr.IsValid() {
		c.Subnet = derive(c.Addr, p.opt)
	}
	return c, ok
}

// ParseBlock parses an address or CIDR block as a roster writes it: a bare
// address becomes a /32 or /128, an IPv4-mapped IPv6 address becomes IPv4,
// and a block with host bits set is refused (it is a typo more often than
// not, and guessing would call the wrong customer).
func ParseBlock(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("is empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has a zone; zones are not allowed", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
		}
		return unmapPrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR block", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone; zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapPrefix turns ::ffff:10.0.0.0/120 into 10.0.0.0/24 so that one address
// has one spelling in the database.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func checkWidth(p netip.Prefix) string {
	a := p.Addr()
	switch {
	case a.Is4() && p.Bits() < MinBlockBits4:
		return fmt.Sprintf("block %s is wider than /%d; a customer block that large is refused", p, MinBlockBits4)
	case a.Is6() && p.Bits() < MinBlockBits6:
		return fmt.Sprintf("block %s is wider than /%d; a customer block that large is refused", p, MinBlockBits6)
	case a.IsUnspecified(), a.IsMulticast():
		return fmt.Sprintf("%s is not a customer address", p)
	}
	if a.Is4() && (a.As4()[0] == 0 || a.As4()[0] >= 240) {
		return fmt.Sprintf("%s is in a reserved range (0.0.0.0/8 or 240.0.0.0/4) and cannot be a customer", p)
	}
	return ""
}

// derive is the subnet for a row with an empty subnet column: the group
// prefix around the address, or the block itself when it is wider.
func derive(addr netip.Prefix, opt Options) netip.Prefix {
	bits := opt.GroupPrefix4
	if addr.Addr().Is6() {
		bits = opt.GroupPrefix6
	}
	if addr.Bits() < bits {
		return addr
	}
	return netip.PrefixFrom(addr.Addr(), bits).Masked()
}

// crossCheck finds problems between rows: one customer id with different
// names or phones, exact duplicate rows (dropped), and one address claimed by
// two rows (overlapping blocks included).
func (p *parser) crossCheck(rows []row) []row {
	first := map[string]row{}
	seen := map[netip.Prefix]row{}
	out := rows[:0:0]
	for _, r := range rows {
		if prev, ok := seen[r.c.Addr]; ok {
			if prev.c == r.c {
				continue // the same row twice: harmless, keep one
			}
			if prev.c.ID == r.c.ID {
				p.add(&Error{File: p.name, Line: r.line, Field: colIP,
					Msg: fmt.Sprintf("%s for customer %q is already on line %d with different data", r.c.Addr, r.c.ID, prev.line)})
			} else {
				p.add(&Error{File: p.name, Line: r.line, Field: colIP,
					Msg: fmt.Sprintf("%s is also customer %q's address on line %d", r.c.Addr, prev.c.ID, prev.line)})
			}
			continue
		}
		seen[r.c.Addr] = r
		if f, ok := first[r.c.ID]; ok {
			for _, d := range []struct{ field, a, b string }{
				{colName, f.c.Name, r.c.Name}, {colPhone, f.c.Phone, r.c.Phone}, {colPlan, f.c.Plan, r.c.Plan},
			} {
				if d.a != d.b {
					p.add(&Error{File: p.name, Line: r.line, Field: d.field,
						Msg: fmt.Sprintf("customer %q has %s %q here but %q on line %d", r.c.ID, d.field, d.b, d.a, f.line)})
				}
			}
		} else {
			first[r.c.ID] = r
		}
		out = append(out, r)
	}
	// Overlapping blocks: after sorting by first address (wider first), a
	// block overlaps an earlier one exactly when a block on the stack of
	// enclosing blocks contains it (CIDR blocks nest or are disjoint).
	sorted := slices.Clone(out)
	slices.SortFunc(sorted, func(a, b row) int {
		if c := a.c.Addr.Addr().Compare(b.c.Addr.Addr()); c != 0 {
			return c
		}
		return a.c.Addr.Bits() - b.c.Addr.Bits()
	})
	var stack []row
	for _, r := range sorted {
		for len(stack) > 0 && !stack[len(stack)-1].c.Addr.Contains(r.c.Addr.Addr()) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			a, b := top, r
			if b.line < a.line {
				a, b = b, a
			}
			p.add(&Error{File: p.name, Line: b.line, Field: colIP,
				Msg: fmt.Sprintf("%s (customer %q) overlaps %s (customer %q) on line %d", b.c.Addr, b.c.ID, a.c.Addr, a.c.ID, a.line)})
		}
		stack = append(stack, r)
	}
	return out
}
