package event

import (
	"math"
	"time"
)

// Quantile is the nearest-rank q-quantile (0 < q <= 1) of sorted, which
// must be in ascending order: the smallest value with at least q of the
// values at or below it, sorted[ceil(q*N)-1]. So with one value every
// quantile is that value, and with two the median is the smaller. It is
// the one definition the terminal summary and the run history share; 0
// for no values.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The small tolerance keeps float error (0.07*100 = 7.000000000000001)
	// from moving a rank up by one.
	i := int(math.Ceil(q*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
