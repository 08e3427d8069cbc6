// Package plots draws the figures of the attention-sink reproduction as ECharts charts.
//
// Every figure kind has one constructor (AttentionHeatmap, HeadMeanHeatmap, SinkGrid, PositionLines,
// DualAxisLayers, SortedValues, LambdaSweep, LossCurves). Constructors are pure: they take plain Go
// slices, validate them and return a *Figure that wraps a go-echarts chart, without touching a browser,
// the file system or the network. A Figure gives its ECharts option as JSON (OptionJSON) or as a
// JavaScript expression (OptionJS), which is what a notebook cell or an HTML page needs to draw it.
//
// Two outputs work offline:
//   - SaveHTML writes a standalone page with the ECharts library inlined from the repository's
//     node_modules (installed by scripts/setup.sh), so the file opens from file:// without a network.
//   - RenderSVG and SaveSVG render the chart on the server side, through node and the same local
//     ECharts copy (the script is plots/ssr/render.cjs), for static images in saved notebooks and papers.
//
// Input conventions shared by all constructors:
//   - Empty inputs, ragged matrices, mismatched lengths, infinite values and duplicate series names are
//     errors that name the offending argument; constructors never panic on bad input.
//   - NaN means "missing": heatmap cells with NaN are left empty (like the masked upper triangle), lines
//     have a gap there. SortedValues is the exception: a ranking of NaN is undefined, so NaN is an error.
//   - On a logarithmic axis, values <= 0 are errors.
//
// The core library (sinks/...) does not import this package; plots depends only on go-echarts and the
// standard library.
package plots
