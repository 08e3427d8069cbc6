package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Series is one named line.
type Series struct {
	// Name is the legend entry; names must be unique within a figure.
	Name string
	// Values holds one value per x; NaN leaves a gap.
	Values []float64
	// Dashed draws a dashed line (e.g. a theory curve or a control condition).
	Dashed bool
	// Color is an optional CSS colour; "" takes the next colour of the palette.
	Color string
}

// checkMatrix checks that m is a non-empty rectangular matrix without infinities (NaN is allowed).
func checkMatrix(kind, arg string, m [][]float32) (rows, cols int, err error) {
	if len(m) == 0 {
		return 0, 0, fmt.Errorf("plots: %s: %s is empty", kind, arg)
	}
	cols = len(m[0])
	if cols == 0 {
		return 0, 0, fmt.Errorf("plots: %s: %s[0] is empty", kind, arg)
	}
	for i, row := range m {
		if len(row) != cols {
			return 0, 0, fmt.Errorf("plots: %s: %s is ragged: row %d has %d values, row 0 has %d", kind, arg, i, len(row), cols)
		}
		for j, v := range row {
			if math.IsInf(float64(v), 0) {
				return 0, 0, fmt.Errorf("plots: %s: %s[%d][%d] is %v", kind, arg, i, j, v)
			}
		}
	}
	return len(m), cols, nil
}

// checkValues checks one series of values: the expected length, no infinities, and positive
// values on a log axis. NaN is allowed (a gap).
func checkValues(kind, arg string, values []float64, n int, log bool) error {
	if len(values) != n {
		return fmt.Errorf("plots: %s: %s has %d values, want %d (one per x)", kind, arg, len(values), n)
	}
	for i, v := range values {
		switch {
		case math.IsInf(v, 0):
			return fmt.Errorf("plots: %s: %s[%d] is %v", kind, arg, i, v)
		case log && !math.IsNaN(v) && v <= 0:
			return fmt.Errorf("plots: %s: %s[%d] = %v cannot be drawn on a logarithmic axis", kind, arg, i, v)
		}
	}
	return nil
}

// checkSeries checks a list of series against n x values.
func checkSeries(kind, arg string, series []Series, n int, log bool) error {
	if len(series) == 0 {
		return fmt.Errorf("plots: %s: %s is empty", kind, arg)
	}
	seen := map[string]int{}
	for i, s := range series {
		name := fmt.Sprintf("%s[%d] (%q)", arg, i, s.Name)
		if s.Name == "" {
			return fmt.Errorf("plots: %s: %s[%d] has no Name", kind, arg, i)
		}
		if j, dup := seen[s.Name]; dup {
			return fmt.Errorf("plots: %s: %s[%d] and %s[%d] are both named %q", kind, arg, j, arg, i, s.Name)
		}
		seen[s.Name] = i
		if err := checkValues(kind, name+".Values", s.Values, n, log); err != nil {
			return err
		}
	}
	return nil
}

// checkFloats checks x values: non-empty and finite.
func checkFloats(kind, arg string, x []float64) error {
	if len(x) == 0 {
		return fmt.Errorf("plots: %s: %s is empty", kind, arg)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("plots: %s: %s[%d] is %v", kind, arg, i, v)
		}
	}
	return nil
}

// value encodes a float for series data: NaN becomes "-", ECharts' empty value.
func value(v float64) any {
	if math.IsNaN(v) {
		return "-"
	}
	return v
}

// value32 is value for float32 data, which keeps its short JSON form.
func value32(v float32) any {
	if v != v {
		return "-"
	}
	return v
}

// maxTokenRunes is the longest token label shown on an axis.
const maxTokenRunes = 14

// tokenLabels returns n unique axis labels "i:token" (or "i" without tokens): tokens repeat in text,
// and a category axis needs distinct names. Control characters are escaped and long tokens cut.
func tokenLabels(kind string, tokens []string, n int) ([]string, error) {
	if tokens != nil && len(tokens) != n {
		return nil, fmt.Errorf("plots: %s: tokens has %d entries, the pattern has %d positions", kind, len(tokens), n)
	}
	labels := make([]string, n)
	for i := range labels {
		if tokens == nil {
			labels[i] = strconv.Itoa(i)
			continue
		}
		labels[i] = strconv.Itoa(i) + ":" + visibleToken(tokens[i])
	}
	return labels, nil
}

// visibleToken escapes control characters (a newline token would break the axis) and shortens long tokens.
func visibleToken(tok string) string {
	var b strings.Builder
	for _, r := range tok {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError || unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	s := b.String()
	if utf8.RuneCountInString(s) > maxTokenRunes {
		s = string([]rune(s)[:maxTokenRunes-1]) + "…"
	}
	return s
}

// formatNumber prints v with 4 significant digits, for labels.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}
