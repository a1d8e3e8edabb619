// Package passive turns passive sources — packet captures and the web-server
// logs customers send in — into per-source evidence (store.Evidence): which
// address sent which worm's requests (or served an infected reply), when
// first and last, how often and to how many distinct targets, with a sample
// reference (file:line or file#packet) a person can check.
//
// It decides and counts; it prints nothing. Callers get statistics and
// evidence back and render them. Bad input (garbage lines, truncated
// captures, a gzip that ends early) never panics or hangs: lines are counted
// and reported with their numbers, read errors come back as errors naming
// the file and line or packet, together with everything read before them.
//
// Worm request signatures are fingerprint.MatchRequest / MatchReply: they are
// written once there and shared with the rest of redsweep.
package passive
