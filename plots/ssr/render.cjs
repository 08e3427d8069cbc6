'use strict';
// Renders ECharts options to SVG strings on the server side: no browser, no network.
//
//   node plots/ssr/render.cjs < jobs.json > results.json
//
// jobs.json is a JSON array of {"width": pixels, "height": pixels, "option": {...ECharts option...}}.
// The result is a JSON array with one {"svg": "<svg ...>"} or {"error": "..."} per job, in order, so that
// one node process renders many charts (loading ECharts takes most of the time of a single chart).
//
// ECharts comes from $SINKSCOPE_ECHARTS_JS (a path to echarts.min.js; the Go side always sets it) or
// else from the nearest node_modules/echarts. A string of the option that starts and ends with "__f__" is
// go-echarts' encoding of a JavaScript function (opts.FuncOpts); it is turned back into that function.
const fs = require('fs');
const echarts = require(process.env.SINKSCOPE_ECHARTS_JS || 'echarts');

const MARK = '__f__';

function revive(key, value) {
  if (typeof value === 'string' && value.length >= 2 * MARK.length &&
      value.startsWith(MARK) && value.endsWith(MARK)) {
    return new Function('return (' + value.slice(MARK.length, -MARK.length) + ');')();
  }
  return value;
}

function render(job) {
  let chart = null;
  try {
    chart = echarts.init(null, null, {renderer: 'svg', ssr: true, width: job.width, height: job.height});
    // A static image has no use for animation; it would also leave elements at their first frame.
    chart.setOption(Object.assign({}, job.option, {animation: false}));
    return {svg: chart.renderToSVGString()};
  } catch (e) {
    return {error: String((e && e.stack) || e)};
  } finally {
    if (chart) chart.dispose();
  }
}

const jobs = JSON.parse(fs.readFileSync(0, 'utf8'), revive);
if (!Array.isArray(jobs)) {
  throw new Error('render.cjs: expected a JSON array of jobs on stdin');
}
process.stdout.write(JSON.stringify(jobs.map(render)));
