package bench

import (
	"math/bits"
	"time"
)

// The histogram keeps, for every power of two, subCount linear
// sub-buckets (the layout of HDR histograms): values below 2*subCount are
// exact, larger ones are within 1/(2*subCount) ≈ 1.6% of the truth. Its
// size is fixed whatever the number of samples.
const (
	subBits  = 5
	subCount = 1 << subBits
	nBuckets = 64 * subCount // covers every uint64
)

// histogram is a fixed-size latency histogram in nanoseconds. Not safe for
// concurrent use: each worker keeps its own and they are merged at the end.
type histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) uint64 {
	if i < 2*subCount {
		return uint64(i)
	}
	shift := i/subCount - 1
	low := uint64(i%subCount+subCount) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value at q (0..1): the smallest recorded value
// such that at least q of all samples are at or below it, to the bucket's
// precision. Zero when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999) // ceil, without float noise
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
