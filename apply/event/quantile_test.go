package event

import (
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"none", nil, 0.5, 0},
		{"one value is every quantile", []time.Duration{3}, 0.99, 3},
		{"two values: median is the lower", []time.Duration{2, 4}, 0.5, 2},
		{"two values: P90 is the higher", []time.Duration{2, 4}, 0.9, 4},
		{"ten values: P50", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"ten values: P90", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"ten values: P99 is the max", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"1..100: P7 despite 0.07*100 > 7 in floats", hundred, 0.07, 7},
		{"1..100: P29 despite 0.29*100 < 29 in floats", hundred, 0.29, 29},
		{"1..100: P99", hundred, 0.99, 99},
		{"q 0 is the min", hundred, 0, 1},
		{"q 1 is the max", hundred, 1, 100},
	} {
		if got := Quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: Quantile(q=%v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
}
