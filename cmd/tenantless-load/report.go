package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// result is every run of one workload at one concurrency, and their
// medians.
type result struct {
	Workload    string      `json:"workload"`
	Concurrency int         `json:"concurrency,omitempty"`
	Runs        []runResult `json:"runs,omitempty"`
	// Median holds the median of each figure over Runs, taken separately.
	Median  runResult      `json:"median,omitzero"`
	Startup *startupResult `json:"startup,omitempty"`
}

// percentiles returns the nearest-rank 50th, 95th and 99th percentiles
// and the maximum of lat, which it sorts.
func percentiles(lat []time.Duration) (p50, p95, p99, maxLat time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	return rank(0.50), rank(0.95), rank(0.99), lat[len(lat)-1]
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median[T int64 | float64 | time.Duration](xs []T) T {
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

// summarize sets Median from Runs.
func (r *result) summarize() {
	pick := func(f func(runResult) float64) float64 {
		xs := make([]float64, len(r.Runs))
		for i, run := range r.Runs {
			xs[i] = f(run)
		}
		return median(xs)
	}
	dur := func(f func(runResult) time.Duration) time.Duration {
		xs := make([]time.Duration, len(r.Runs))
		for i, run := range r.Runs {
			xs[i] = f(run)
		}
		return median(xs)
	}
	i64 := func(f func(runResult) int64) int64 {
		xs := make([]int64, len(r.Runs))
		for i, run := range r.Runs {
			xs[i] = f(run)
		}
		return median(xs)
	}
	m := runResult{
		Ops:              i64(func(x runResult) int64 { return x.Ops }),
		Elapsed:          dur(func(x runResult) time.Duration { return x.Elapsed }),
		OpsPerS:          pick(func(x runResult) float64 { return x.OpsPerS }),
		P50:              dur(func(x runResult) time.Duration { return x.P50 }),
		P95:              dur(func(x runResult) time.Duration { return x.P95 }),
		P99:              dur(func(x runResult) time.Duration { return x.P99 }),
		Max:              dur(func(x runResult) time.Duration { return x.Max }),
		ServerCPUmsPerOp: pick(func(x runResult) float64 { return x.ServerCPUmsPerOp }),
		ClientCPUmsPerOp: pick(func(x runResult) float64 { return x.ClientCPUmsPerOp }),
		RSSBefore:        i64(func(x runResult) int64 { return x.RSSBefore }),
		RSSAfter:         i64(func(x runResult) int64 { return x.RSSAfter }),
		RSSPeak:          i64(func(x runResult) int64 { return x.RSSPeak }),
	}
	// Errors are summed, not a median: one is one too many.
	for _, run := range r.Runs {
		m.Errors += run.Errors
		for k, v := range run.ErrKinds {
			if m.ErrKinds == nil {
				m.ErrKinds = map[string]int64{}
			}
			m.ErrKinds[k] += v
		}
	}
	r.Median = m
}

func writeJSON(w io.Writer, results []result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

// writeTable prints one line per workload and concurrency (medians over
// the runs), then the errors by kind, then startup figures.
func writeTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	header := true
	var notes []string
	for _, r := range results {
		if r.Startup != nil {
			continue
		}
		if header {
			fmt.Fprintln(tw, "workload\tc\truns\tops/s\tp50\tp95\tp99\tmax\terrors\tserver CPU ms/op\tserver RSS peak\tclient CPU ms/op\t")
			header = false
		}
		m := r.Median
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.2f\t\n",
			r.Workload, r.Concurrency, len(r.Runs), m.OpsPerS, fmtDur(m.P50), fmtDur(m.P95), fmtDur(m.P99), fmtDur(m.Max),
			m.Errors, orDash(m.ServerCPUmsPerOp, "%.2f"), mib(m.RSSPeak), m.ClientCPUmsPerOp)
		if len(m.ErrKinds) > 0 {
			kinds := make([]string, 0, len(m.ErrKinds))
			for k := range m.ErrKinds {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				notes = append(notes, fmt.Sprintf("  %s c=%d: %d × %s", r.Workload, r.Concurrency, m.ErrKinds[k], k))
			}
		}
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w, "errors by kind:")
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
	for _, r := range results {
		if s := r.Startup; s != nil {
			fmt.Fprintf(w, "startup: %d starts of %s on %s: ready p50 %s (min %s, max %s); idle RSS p50 %s (after %s)\n",
				len(s.Ready), s.Binary, s.Database, fmtDur(s.ReadyP50), fmtDur(s.ReadyMin), fmtDur(s.ReadyMax),
				mib(s.IdleRSSP50), s.Settle)
		}
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", ms(d))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
