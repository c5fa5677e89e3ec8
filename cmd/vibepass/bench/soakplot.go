package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// The soak's plot: one small panel per series, the samples the trend test reads shaded.
const (
	plotCols    = 3
	panelWidth  = 300
	panelHeight = 110
	plotMargin  = 24 // room for a panel's title above and the axis labels below
	plotInset   = 8
)

// svg draws every series of the soak, each on its own scale, as an SVG document.
func (s *soakReport) svg() []byte {
	rows := (int(numCols) + plotCols - 1) / plotCols
	width := plotCols * (panelWidth + plotInset)
	height := rows * (panelHeight + 2*plotMargin)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	if len(s.rows) == 0 {
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	last := s.at[len(s.at)-1]
	end := max(1, last.Seconds())
	for c, def := range soakColumns {
		x0 := float64((c%plotCols)*(panelWidth+plotInset)) + plotInset/2
		y0 := float64((c/plotCols)*(panelHeight+2*plotMargin) + plotMargin)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range s.rows {
			lo, hi = min(lo, r[c]), max(hi, r[c])
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s: %s to %s</text>`+"\n", x0, y0-6, html.EscapeString(def.name), formatSample(lo), formatSample(hi))
		if hi == lo { // a flat line, drawn across the middle
			lo, hi = lo-1, hi+1
		}
		if from := s.testedFrom(c); from < len(s.rows) {
			tested := s.at[from].Seconds() / end * panelWidth
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%d" fill="#eef2f7"/>`+"\n", x0+tested, y0, panelWidth-tested, panelHeight)
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, y0, panelWidth, panelHeight)
		fmt.Fprint(&b, `<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="`)
		for i, r := range s.rows {
			x := x0 + s.at[i].Seconds()/end*panelWidth
			y := y0 + panelHeight - (r[c]-lo)/(hi-lo)*panelHeight
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		fmt.Fprint(&b, `"/>`+"\n")
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#666">0</text><text x="%.0f" y="%.0f" fill="#666" text-anchor="end">%s</text>`+"\n",
			x0, y0+panelHeight+13, x0+panelWidth, y0+panelHeight+13, last)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
