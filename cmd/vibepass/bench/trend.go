package bench

import (
	"math"
	"slices"
)

// A soak's series "keeps growing" when, over the second half of the run (the first half
// lets caches fill and the feed's log reach its window), both hold:
//   - the Mann-Kendall test finds an upward trend at trendAlpha (one-sided): most later
//     samples exceed most earlier ones, whatever the shape of the growth. trendAlpha is
//     0.01 shared among the dozen series a soak tests (Bonferroni), so a run of flat
//     series fails by chance about once in a hundred;
//   - the Theil-Sen slope (the median of the slopes between every two samples, which a
//     few outliers such as a GC cycle do not move) times the half's length exceeds the
//     series' floor and trendShare of its median: a statistically clear but tiny drift
//     is not a leak.
//
// With no ties, Mann-Kendall's p-value is exact (the distribution of S over the n!
// orders); with ties, or past exactTrendN samples, its normal approximation with the tie
// correction and a continuity correction.
const (
	trendAlpha  = 0.001
	trendShare  = 0.10
	exactTrendN = 12
	// minTrendSamples is the fewest samples in the second half with which Mann-Kendall can
	// reach trendAlpha (the exact p of a strictly rising run of 7 is 1/5040; of 6, 1/720).
	minTrendSamples = 7
)

// trend is what the test found in one series.
type trend struct {
	slope  float64 // Theil-Sen, per second
	growth float64 // slope times the span of the samples tested
	p      float64 // Mann-Kendall, one-sided (upward)
	median float64
}

// rising reports whether the trend is growth by the rule above, floor being the least
// growth that matters for the series.
func (t trend) rising(floor float64) bool {
	return t.p < trendAlpha && t.growth > max(floor, trendShare*math.Abs(t.median))
}

// findTrend tests ys sampled at times ts (seconds).
func findTrend(ts, ys []float64) trend {
	n := len(ys)
	if n < 2 {
		return trend{p: 1}
	}
	var slopes []float64
	s := 0
	for i := range n {
		for j := i + 1; j < n; j++ {
			if ts[j] > ts[i] {
				slopes = append(slopes, (ys[j]-ys[i])/(ts[j]-ts[i]))
			}
			switch {
			case ys[j] > ys[i]:
				s++
			case ys[j] < ys[i]:
				s--
			}
		}
	}
	t := trend{slope: medianOf(slopes), median: medianOf(ys)}
	t.growth = t.slope * (ts[n-1] - ts[0])
	t.p = mannKendallP(s, ys)
	return t
}

// medianOf returns the median of xs (0 for none).
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// mannKendallP returns P(S' >= s) under no trend, for the series ys whose statistic is s.
func mannKendallP(s int, ys []float64) float64 {
	n := len(ys)
	ties := map[float64]int{}
	for _, y := range ys {
		ties[y]++
	}
	if len(ties) == n && n <= exactTrendN {
		return exactKendallP(n, s)
	}
	variance := float64(n*(n-1)*(2*n+5)) / 18
	for _, k := range ties {
		variance -= float64(k*(k-1)*(2*k+5)) / 18
	}
	if variance <= 0 || s <= 0 {
		return 1
	}
	z := (float64(s) - 1) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// exactKendallP returns P(S >= s) over the n! equally likely orders of n distinct values.
// S = n(n-1)/2 - 2·inversions, and the number of orders with k inversions is the Mahonian
// number, built here one element at a time.
func exactKendallP(n, s int) float64 {
	counts := []float64{1}
	for m := 2; m <= n; m++ {
		next := make([]float64, len(counts)+m-1)
		for k, c := range counts {
			for add := range m {
				next[k+add] += c
			}
		}
		counts = next
	}
	pairs := n * (n - 1) / 2
	var hit, total float64
	for inv, c := range counts {
		total += c
		if pairs-2*inv >= s {
			hit += c
		}
	}
	return hit / total
}
