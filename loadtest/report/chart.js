/* loadtest report: draws each chart figure (figure.chart) from its JSON with uPlot (inlined above).
 * Hover: every series' value and the samples behind it. Legend click: hide/show a series.
 * Drag across the plot: zoom that range (the panels of one chart zoom together); double-click: zoom out. */
(function () {
  "use strict";
  var DASH = { solid: [], dashed: [8, 4], dotted: [2, 3], dashdot: [8, 3, 2, 3] };
  var PANEL_PX = 300;
  var POINTS_UP_TO = 150;

  function number(v) {
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a === 0) return "0";
    return v.toPrecision(3).replace(/\.?0+$/, "");
  }

  function withUnit(v, unit) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    if (unit === "/s") return number(v) + "/s";
    return unit ? number(v) + " " + unit : number(v);
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  /* All series of a panel on one sorted x axis: a series' own gaps stay null (drawn as gaps), points it
   * does not have are undefined (skipped, not gaps). hover[i][k]: which of series i's own points to
   * read at aligned position k (held levels: the last one before; lines: the nearest, if close). */
  function align(series) {
    var seen = new Map();
    series.forEach(function (s) { s.x.forEach(function (x) { seen.set(x, true); }); });
    var xs = Array.from(seen.keys()).sort(function (a, b) { return a - b; });
    var at = new Map(xs.map(function (x, k) { return [x, k]; }));
    var ys = [], hover = [];
    series.forEach(function (s) {
      var y = new Array(xs.length), own = new Array(xs.length);
      s.x.forEach(function (x, j) { var k = at.get(x); y[k] = s.y[j]; own[k] = j; });
      var held = s.kind !== "line", last = -1, spacing = Infinity;
      for (var j = 1; j < s.x.length; j++) spacing = Math.min(spacing, s.x[j] - s.x[j - 1]);
      var pick = new Array(xs.length);
      for (var k = 0; k < xs.length; k++) {
        if (own[k] !== undefined) last = own[k];
        if (held) { pick[k] = last >= 0 ? last : null; continue; }
        pick[k] = own[k] !== undefined ? own[k] : null;
      }
      if (!held) {  // nearest own point within half the series' spacing
        var j = 0;
        for (var k2 = 0; k2 < xs.length; k2++) {
          if (pick[k2] !== null || !s.x.length) continue;
          while (j + 1 < s.x.length && Math.abs(s.x[j + 1] - xs[k2]) <= Math.abs(s.x[j] - xs[k2])) j++;
          if (Math.abs(s.x[j] - xs[k2]) <= spacing / 2) pick[k2] = j;
        }
      }
      if (held) {  // a held level is the same level at the other series' points in between
        var first = xs.length, lastK = -1;
        own.forEach(function (j, k) { if (j !== undefined) { first = Math.min(first, k); lastK = k; } });
        for (var k3 = first + 1; k3 < lastK; k3++) if (y[k3] === undefined) y[k3] = y[k3 - 1];
      }
      ys.push(y);
      hover.push(pick);
    });
    return { x: xs, ys: ys, hover: hover };
  }

  function legendValue(s, pick, unit) {
    return function (u, v, si, di) {
      if (di === null || di === undefined) return "–";
      var j = pick[di];
      if (j === null || j === undefined) return "–";
      var own = s.value ? s.value[j] : s.y[j];
      var text = (s.lower && s.lower[j] ? "≥ " : "") + withUnit(own, unit);
      if (s.counts && s.counts[j] !== null && s.counts[j] !== undefined && s.countLabel) {
        text += " · " + number(s.counts[j]) + " " + s.countLabel;
      }
      return text;
    };
  }

  function makePanel(host, panel, width, group) {  // group: {key, plots}: the chart's panels
    var data = align(panel.series);
    var stepped = uPlot.paths.stepped({ align: 1 });
    var series = [{ label: panel.xLabel || "x", value: function (u, v) { return v === null ? "–" : number(v); } }];
    var bands = [];
    panel.series.forEach(function (s, i) {
      var opts = {
        label: s.label,
        stroke: s.kind === "area" ? rgba(s.colour, 0.9) : s.colour,
        width: s.kind === "area" ? 1 : s.width,
        dash: DASH[s.dash] || [],
        value: legendValue(s, data.hover[i], panel.unit),
        spanGaps: false,
      };
      // Points where a series is sparse enough to show them (an isolated point between gaps must show);
      // a dense series is a line, and uPlot decides.
      if (s.marker || (s.points && s.x.length <= POINTS_UP_TO)) opts.points = { show: true, size: 5, fill: s.colour };
      if (s.kind !== "line") opts.paths = stepped;
      if (s.kind === "area") {
        if (s.stackOn === null || s.stackOn === undefined) opts.fill = rgba(s.colour, s.alpha);
        else bands.push({ series: [i + 1, s.stackOn + 1], fill: rgba(s.colour, s.alpha) });
      }
      series.push(opts);
    });
    var xAxis = { label: panel.xLabel, labelSize: 20, size: 40 };
    if (panel.xTicks) {
      var ticks = panel.xTicks;
      xAxis.splits = function (u, ai, min, max) {
        return ticks.map(function (t) { return t[0]; }).filter(function (v) { return v >= min - 1e-9 && v <= max + 1e-9; });
      };
      xAxis.values = function (u, splits) {
        return splits.map(function (v) {
          var hit = ticks.find(function (t) { return Math.abs(t[0] - v) < 1e-9; });
          return hit ? hit[1] : "";
        });
      };
    }
    var yMax = panel.yMax;
    var opts = {
      width: width,
      height: Math.max(150, Math.round(PANEL_PX * panel.height)),
      title: panel.title + (panel.note ? " — " + panel.note : ""),
      series: series,
      bands: bands,
      scales: {
        x: { time: false },
        y: { range: function (u, min, max) { var top = Math.max(max || 0, yMax || 0); return [0, top > 0 ? top * 1.08 : 1]; } },
      },
      axes: [xAxis, { label: panel.yLabel, labelSize: 20, size: 60 }],
      cursor: { drag: { x: !!panel.xTime || !!panel.xTicks, y: false }, sync: { key: group.key } },
      legend: { live: true },
      hooks: {
        setSelect: [function (u) {  // a drag zooms every panel of the chart to the same range
          if (u.select.width <= 0) return;
          var min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
          group.plots.forEach(function (other) { if (other !== u) other.setScale("x", { min: min, max: max }); });
        }],
        ready: [function (u) {  // a double-click zooms them all back out (after uPlot's own reset)
          u.over.addEventListener("dblclick", function () { group.reset(); });
        }],
      },
    };
    var data2 = [data.x].concat(data.ys);
    return new uPlot(opts, data2, host);
  }

  function drawChart(figure) {
    var host = figure.querySelector(".chart-panels");
    var source = figure.querySelector("script.chart-data");
    var spec = JSON.parse(source.textContent);
    var width = Math.max(320, host.clientWidth || 900);
    var group = { key: "chart-" + spec.slug, plots: [] };
    // One x range for every panel of the chart: from 0 on a time axis, to the last point of any panel.
    var lo = Infinity, hi = -Infinity, time = spec.panels.every(function (p) { return p.xTime; });
    spec.panels.forEach(function (p) {
      if (p.xRange) { lo = Math.min(lo, p.xRange[0]); hi = Math.max(hi, p.xRange[1]); return; }
      p.series.forEach(function (s) {
        s.x.forEach(function (x) { if (x < lo) lo = x; if (x > hi) hi = x; });
      });
    });
    if (time) lo = Math.min(lo, 0);
    group.reset = function () {
      if (!(hi > lo)) return;
      group.plots.forEach(function (plot) { plot.setScale("x", { min: lo, max: hi }); });
    };
    spec.panels.forEach(function (panel) {
      var div = document.createElement("div");
      div.className = "chart-panel";
      host.appendChild(div);
      group.plots.push(makePanel(div, panel, width, group));
    });
    var plots = group.plots;
    group.reset();
    window.addEventListener("resize", function () {
      var w = Math.max(320, host.clientWidth || 900);
      plots.forEach(function (plot) { plot.setSize({ width: w, height: plot.height }); });
    });
    figure.uplots = plots;  // for scripts (and tests) that read a chart's state
    figure.classList.add("drawn");
  }

  function drawAll() {
    var figures = document.querySelectorAll("figure.chart");
    figures.forEach(function (figure) {
      try {
        drawChart(figure);
      } catch (error) {
        var p = document.createElement("p");
        p.className = "chart-error";
        p.textContent = "This chart could not be drawn (" + error + "); its image is in plots/.";
        figure.appendChild(p);
        console.error(error);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
