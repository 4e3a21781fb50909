// loadtest's additions to Locust's web UI, served at ./loadtest/ui.js and loaded by its page:
//  * live charts at the top of the "Job metrics" tab: queue delay, execution and end to end (p50 and
//    p95 per window, finished jobs) and the share of requests answered 429, from ./loadtest/series;
//  * the report in the "Jobs" tab as a link, not text.
// Locust's page is a React app that redraws its tables: a MutationObserver puts our parts back.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var charts = {};
  var latest = null;
  var PANELS = [
    {key: "queue_delay", title: "Queue delay (ms)"},
    {key: "execution_time", title: "Execution time (ms)"},
    {key: "end_to_end", title: "End to end (ms)"},
    {key: "rate_429", title: "429 rate (%)"}
  ];

  function tab() {
    var match = /[?&]tab=([^&]+)/.exec(window.location.search);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function container() {
    var box = document.getElementById("loadtest-charts");
    if (box) return box;
    var table = document.querySelector("table");
    if (!table) return null;
    var anchor = table.closest(".MuiTableContainer-root") || table;
    box = document.createElement("div");
    box.id = "loadtest-charts";
    box.style.cssText = "display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px 0";
    anchor.parentNode.insertBefore(box, anchor);
    charts = {};
    return box;
  }

  function seriesFor(panel, doc) {
    var s = doc.series;
    if (panel.key === "rate_429") {
      return {labels: ["429 rate"], data: [s.rate_429.map(function (v) { return v === null ? null : 100 * v; })],
              counts: s.requests, what: "requests"};
    }
    var m = s[panel.key];
    return {labels: ["p50", "p95"], data: [m.p50, m.p95], counts: m.count, what: "jobs"};
  }

  function draw() {
    if (tab() !== "jobmetrics" || !latest || typeof uPlot === "undefined") return;
    var box = container();
    if (!box) return;
    var width = Math.max(280, Math.floor((box.clientWidth || 1000) / 2) - 16);
    PANELS.forEach(function (panel) {
      var s = seriesFor(panel, latest);
      var data = [latest.t].concat(s.data);
      var chart = charts[panel.key];
      if (chart && chart.root.isConnected) {
        chart.setData(data);
        chart.counts = s.counts;
        return;
      }
      var div = document.createElement("div");
      div.className = "loadtest-chart";
      div.setAttribute("data-metric", panel.key);
      box.appendChild(div);
      var colours = ["#0072B2", "#D55E00"];
      chart = new uPlot({
        title: panel.title, width: width, height: 200,
        scales: {x: {time: false}},
        axes: [{label: "seconds since the test started"}, {}],
        series: [{label: "t (s)"}].concat(s.labels.map(function (label, i) {
          return {label: label, stroke: panel.key === "rate_429" ? "#C62828" : colours[i], width: 1.6,
                  points: {show: true, size: 4}, spanGaps: false,
                  value: function (u, v, si, idx) {
                    if (v === null || v === undefined) return "-";
                    var n = u.counts && idx !== null ? u.counts[idx] : null;
                    return v.toFixed(1) + (n !== null && n !== undefined ? " (" + n + " " + s.what + ")" : "");
                  }};
        }))
      }, data, div);
      chart.counts = s.counts;
      charts[panel.key] = chart;
    });
  }

  function linkReport() {
    var cells = document.querySelectorAll("td");
    for (var i = 0; i < cells.length; i++) {
      var cell = cells[i];
      var text = (cell.textContent || "").trim();
      if (/^\.?\/?loadtest\/report$/.test(text) && !cell.querySelector("a")) {
        var link = document.createElement("a");
        link.href = "./loadtest/report";
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = "open the report";
        cell.textContent = "";
        cell.appendChild(link);
      }
    }
  }

  function poll() {
    fetch("./loadtest/series", {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) { if (doc) { latest = doc; draw(); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  // put the charts back when React redraws the tab (not on the charts' own changes: that would loop)
  new MutationObserver(function () {
    linkReport();
    if (tab() === "jobmetrics" && !document.getElementById("loadtest-charts")) draw();
  }).observe(document.documentElement, {childList: true, subtree: true});
  window.addEventListener("popstate", draw);
  poll();
})();
