package syn

import (
	"math/bits"
	"time"
)

// Adaptive timing. A silent target is retried after the retry delay, and
// given up a cool-down after its last SYN; the sweep ends a cool-down after
// its final packet. Fixed values must suit the slowest customer link, so
// they were 1 s each, while a SYN-ACK here typically comes back within tens
// of milliseconds. Like nmap (timeouts from measured round trips) and unlike
// masscan/zmap (a fixed wait of seconds at the end), the engine measures the
// round trip of every target answered on its first SYN and uses
//
//	retry delay         = clamp(rttFactor × p99, MinRetryDelay, RetryDelay)
//	final cool-down     = clamp(rttFactor × p99, MinCooldown,   Cooldown)
//
// The final cool-down is the wait after the sweep's last packet. Targets
// given up while the sweep is still sending wait the full Cooldown: that
// costs memory only, not time (see engine.finalWait).
//
// where p99 is the 99th percentile of recent round trips (a histogram that
// halves every rttDecay samples, so it follows a network that slows down).
// Until rttMinSamples round trips are known the ceilings apply, so a range
// that does not answer at all is swept exactly as before.
//
// Only replies to a target's first SYN are measured (Karn's rule: after a
// retry a reply may answer either SYN), so hosts slower than the retry delay
// in force are not seen; the floors keep them found anyway: a target is
// given MinRetryDelay + MinCooldown (750 ms) after its first SYN and
// MinCooldown (500 ms) after its last, well above terrestrial round trips
// (a customer on geostationary satellite, ~600 ms, is still found unless
// the first SYN is lost).
const (
	rttFactor     = 3
	rttMinSamples = 64
	rttDecay      = 1 << 15
	rttEvery      = 64 // recompute the delays every rttEvery samples
)

// rttStats is a histogram of round trips with buckets 1/8 of an octave wide
// (12.5 % resolution) from 1 µs to about a minute: constant memory.
type rttStats struct {
	buckets [rttBuckets]uint32
	n       uint32
}

const rttBuckets = 208

func rttBucket(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < 16 {
		return int(us)
	}
	e := bits.Len64(us) - 4 // keep the leading bit and three more
	i := e*8 + int(us>>uint(e))
	return min(i, rttBuckets-1)
}

// rttUpper is the upper end of bucket i.
func rttUpper(i int) time.Duration {
	if i < 16 {
		return time.Duration(i+1) * time.Microsecond
	}
	e, m := i/8-1, i%8+8
	return time.Duration(m+1) << uint(e) * time.Microsecond
}

func (s *rttStats) add(d time.Duration) {
	s.buckets[rttBucket(d)]++
	s.n++
	if s.n >= rttDecay {
		s.n = 0
		for i := range s.buckets {
			s.buckets[i] /= 2
			s.n += s.buckets[i]
		}
	}
}

// quantile is (an upper bound of) the q-quantile of the samples.
func (s *rttStats) quantile(q float64) time.Duration {
	want := uint32(q*float64(s.n) + 0.5)
	var sum uint32
	for i, c := range s.buckets {
		sum += c
		if sum >= want && sum > 0 {
			return rttUpper(i)
		}
	}
	return rttUpper(rttBuckets - 1)
}

// sample records one round trip and, now and then, adapts the delays.
func (e *engine) sample(d time.Duration) {
	e.rtt.add(d)
	e.samples++
	if e.samples >= rttMinSamples && e.samples%rttEvery == 0 {
		e.adapt()
	}
}

func (e *engine) adapt() {
	p99 := e.rtt.quantile(0.99)
	e.retryDelay = clampDur(rttFactor*p99, e.minRetry, e.maxRetry)
	e.cooldown = clampDur(rttFactor*p99, e.minCool, e.maxCool)
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}
