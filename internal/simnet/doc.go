// Package simnet is redsweep's simulated customer network: hundreds of
// customer hosts on loopback addresses, each with a personality (IIS 4.0 to
// 10.0, HTTP.sys, Apache, nginx, Code Red I / Code Red II / Nimda infected
// hosts, traps such as a catch-all server and a spoofed IIS banner, and broken
// or hostile servers), plus the roster CSV, ground truth and request log that
// the end-to-end tests and `make demo` compare a sweep against.
//
// Safety: simnet binds and answers only on 127.0.0.0/8. Start refuses any
// other range, so a misconfigured test can never listen on a real network.
//
// # Use in a test
//
//	n, err := simnet.Start(ctx, simnet.Config{Prefix: netip.MustParsePrefix("127.77.0.0/24"), SubnetBits: 26, Hosts: 40, Seed: 7})
//	defer n.Close()
//	n.WriteRoster(rosterFile)  // import into the store
//	... sweep n.Prefix() on n.Port() ...
//	for _, h := range n.Hosts() { compare h.Verdict with the sweep }
//	for _, r := range n.Requests() { no root.exe or 220-x .ida without --confirm }
//	n.Cure(addr)               // the host becomes its patched, clean twin
//
// # Files (cmd/simnet -out DIR)
//
// roster.csv — header `ip,customer_id,name,phone,subnet,plan`. One row per
// customer: a single address, or a static block (a /30, of which one address
// serves and the rest are closed). Every customer is listed, also those whose
// address has no listener (closed port, verdict none).
//
// truth.jsonl — one JSON object per roster address, in address order:
//
//	{"ip":"127.42.3.17","port":8080,"customer_id":"C10042","subnet":"127.42.3.0/24",
//	 "personality":"iis5-ida","listening":true,
//	 "verdict":"vulnerable","findings":["iis-codered-era","ida-mapped"],
//	 "confirm_verdict":"vulnerable","confirm_findings":["iis-codered-era","ida-mapped","ms01-033-unpatched"]}
//
// verdict/findings are what a default sweep can prove; confirm_verdict and
// confirm_findings what a sweep with --confirm (root.exe and the MS01-033
// 220-x probe) can prove: Code Red II is only vulnerable without --confirm,
// and a patched IIS 5 with the .ida mapping is vulnerable without it but iis
// with it. Verdict names and finding codes are triage's (the triagecheck
// test runs triage.Judge against every personality). Hostile hosts carry
// "hostile":true; cured hosts "cured":true.
//
// requests.log — one JSON object per request line received, in arrival order:
//
//	{"time":"2026-12-03T17:20:01.123456789Z","ip":"127.42.3.17","port":8080,
//	 "method":"GET","target":"/NULL.ida","proto":"HTTP/1.0"}
//
// A line that is not "METHOD TARGET PROTO" is logged with "raw" set instead.
//
// # Curing hosts (cmd/simnet)
//
// Write IP addresses, one per line ('#' starts a comment), to DIR/cure.txt and
// send SIGHUP: each listed infected or vulnerable host becomes its patched,
// clean twin (IIS 5.0 or 4.0 with the .ida script mapping removed, so a sweep
// calls it iis) and truth.jsonl is rewritten. Re-sending SIGHUP is harmless.
package simnet
