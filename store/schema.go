package store

// migrations[i] takes a database from schema version i to i+1. Never edit a
// migration that has shipped: append a new one. Tests build a database at
// every earlier version from this list and migrate it forward.
//
// Conventions, for people reading the file with the sqlite3 shell:
//   - timestamps are TEXT, RFC 3339 in UTC with fixed microseconds
//     ("2001-08-04T12:00:00.000000Z"), so they sort as text;
//   - addresses are TEXT ("10.1.2.3", "10.1.2.8/29"); the *_key / lo / hi
//     BLOB columns hold the 16-byte form (IPv4 mapped into ::ffff:0:0/96)
//     for range queries and ordering;
//   - verdicts and statuses are the words redsweep prints.
var migrations = []string{
	// 1: roster, sweeps, observations, findings, calls.
	`
CREATE TABLE customers (
	id          TEXT PRIMARY KEY,      -- customer_id from the roster
	name        TEXT NOT NULL,
	phone       TEXT NOT NULL,
	plan        TEXT NOT NULL DEFAULT '',
	imported_at TEXT NOT NULL,         -- when this row last changed
	source      TEXT NOT NULL          -- roster file it came from
);
CREATE TABLE customer_addrs (
	id          INTEGER PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers(id),
	addr        TEXT NOT NULL UNIQUE,  -- CIDR text
	subnet      TEXT NOT NULL,         -- CIDR text of the shared segment
	lo          BLOB NOT NULL,
	hi          BLOB NOT NULL,
	imported_at TEXT NOT NULL
);
CREATE INDEX customer_addrs_customer ON customer_addrs(customer_id);
CREATE TABLE sweeps (
	id      INTEGER PRIMARY KEY,
	started TEXT NOT NULL,
	ended   TEXT,                      -- NULL while running
	state   TEXT NOT NULL,
	options TEXT NOT NULL DEFAULT '{}',-- JSON
	targets INTEGER NOT NULL DEFAULT 0,
	probed  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE observations (
	id          INTEGER PRIMARY KEY,
	sweep_id    INTEGER NOT NULL REFERENCES sweeps(id),
	ip          TEXT NOT NULL,
	ip_key      BLOB NOT NULL,
	port        INTEGER NOT NULL,
	status      TEXT NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	verdict     TEXT NOT NULL,
	status_line TEXT NOT NULL DEFAULT '',
	server      TEXT NOT NULL DEFAULT '',
	product     TEXT NOT NULL DEFAULT '',
	version     TEXT NOT NULL DEFAULT '',
	os          TEXT NOT NULL DEFAULT '',
	seen        TEXT NOT NULL,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	UNIQUE (sweep_id, ip_key, port)
);
CREATE INDEX observations_ip ON observations(ip_key, sweep_id);
CREATE TABLE findings (
	id             INTEGER PRIMARY KEY,
	observation_id INTEGER NOT NULL REFERENCES observations(id) ON DELETE CASCADE,
	code           TEXT NOT NULL,
	detail         TEXT NOT NULL DEFAULT '',
	evidence       TEXT NOT NULL DEFAULT '',
	source         TEXT NOT NULL,
	seen           TEXT NOT NULL
);
CREATE INDEX findings_observation ON findings(observation_id);
CREATE TABLE calls (
	id          INTEGER PRIMARY KEY,
	ip          TEXT NOT NULL,
	customer_id TEXT NOT NULL DEFAULT '',
	outcome     TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	at          TEXT NOT NULL,
	by          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_ip ON calls(ip, at);
CREATE INDEX calls_customer ON calls(customer_id);
`,
	// 2: address history for DHCP attribution, and passive evidence. The
	// unique addr constraint of version 1 cannot hold once an address has
	// past holders, so customer_addrs is rebuilt: only one *current* holder
	// per block. valid_from NULL means "since before redsweep knew"; a
	// re-import that moves an address closes the old row (valid_to).
	`
CREATE TABLE customer_addrs_v2 (
	id          INTEGER PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers(id),
	addr        TEXT NOT NULL,
	subnet      TEXT NOT NULL,
	lo          BLOB NOT NULL,
	hi          BLOB NOT NULL,
	valid_from  TEXT,                  -- NULL: held since before any record
	valid_to    TEXT,                  -- NULL: still held
	source      TEXT NOT NULL DEFAULT ''
);
INSERT INTO customer_addrs_v2 (id, customer_id, addr, subnet, lo, hi, valid_from, valid_to, source)
	SELECT a.id, a.customer_id, a.addr, a.subnet, a.lo, a.hi, NULL, NULL, c.source
	FROM customer_addrs a JOIN customers c ON c.id = a.customer_id;
DROP TABLE customer_addrs;
ALTER TABLE customer_addrs_v2 RENAME TO customer_addrs;
CREATE UNIQUE INDEX customer_addrs_current ON customer_addrs(addr) WHERE valid_to IS NULL;
CREATE INDEX customer_addrs_customer ON customer_addrs(customer_id);
CREATE INDEX customer_addrs_lo ON customer_addrs(lo);
CREATE TABLE evidence (
	id               INTEGER PRIMARY KEY,
	source           TEXT NOT NULL,    -- capture | report
	ip               TEXT NOT NULL,
	ip_key           BLOB NOT NULL,
	code             TEXT NOT NULL,    -- triage finding code
	first_seen       TEXT NOT NULL,
	last_seen        TEXT NOT NULL,
	count            INTEGER NOT NULL DEFAULT 0,
	distinct_targets INTEGER NOT NULL DEFAULT 0,
	reporter         TEXT NOT NULL DEFAULT '',
	origin           TEXT NOT NULL DEFAULT '',
	sample           TEXT NOT NULL DEFAULT '',
	customer_id      TEXT NOT NULL DEFAULT '',  -- holder at first_seen; '' external
	UNIQUE (source, ip, code, reporter)
);
CREATE INDEX evidence_ip ON evidence(ip_key, last_seen);
CREATE INDEX evidence_last_seen ON evidence(last_seen);
`,
	// 3: crash-safe sweeps (checkpoint), the one-sweep-at-a-time lock, and a
	// roster view for the sqlite3 shell.
	`
ALTER TABLE sweeps ADD COLUMN checkpoint INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sweep_locks (
	id      INTEGER PRIMARY KEY CHECK (id = 1),  -- one lock per database
	pid     INTEGER NOT NULL,
	host    TEXT NOT NULL,
	started TEXT NOT NULL
);
CREATE VIEW roster AS
	SELECT c.id AS customer_id, a.addr, a.subnet, c.name, c.phone, c.plan, a.valid_from, a.source
	FROM customer_addrs a JOIN customers c ON c.id = a.customer_id
	WHERE a.valid_to IS NULL;
`,
	// 4: each observation's position in its sweep's target order, so a
	// resumed sweep skips exactly the targets finished beyond its checkpoint.
	`
ALTER TABLE observations ADD COLUMN pos INTEGER;
CREATE INDEX observations_sweep_pos ON observations(sweep_id, pos);
`,
}

// SchemaVersion is the schema version this redsweep writes; it equals
// len(migrations) (a test checks).
const SchemaVersion = 4
