// taskgate dashboard: progressive enhancement of the server-rendered pages.
// Times in the viewer's zone (UTC on hover), charts, and the live log tail. No inline scripts
// anywhere (the pages' Content-Security-Policy), so everything starts from here.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.dataset.local = "1";
      el.title = at.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
      el.textContent = at.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    });
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    root.querySelectorAll("[data-viewer-zone]").forEach(function (el) {
      el.textContent = zone || "local";
    });
    // A form whose times are typed in the viewer's zone says which one (else: UTC).
    root.querySelectorAll("input[data-viewer-zone-field]").forEach(function (el) {
      if (zone && !el.value) el.value = zone;
      if (!el.form) return;
      el.form.querySelectorAll("[data-typed-zone]").forEach(function (label) {
        label.textContent = el.value || "UTC";
      });
    });
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function charts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var series = JSON.parse(el.dataset.series || "{}");
      var bars = el.dataset.chart === "bars";
      var stroke = cssVar("--accent");
      var axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line") } };
      var opts = {
        width: Math.max(el.clientWidth - 2, 240),
        height: 200,
        legend: { show: true },
        axes: [axis, Object.assign({}, axis)],
        series: [
          {},
          {
            label: el.dataset.label || "value",
            stroke: stroke,
            fill: bars ? stroke : undefined,
            paths: bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8] }) : undefined,
            points: { show: !bars },
          },
        ],
      };
      var data = [series.x || [], series.y || []];
      // A learned duration band: its two ends as dashed lines across the chart.
      if (series.band && data[0].length) {
        series.band.forEach(function (value, i) {
          opts.series.push({ label: i ? "band high" : "band low", stroke: cssVar("--warn"), dash: [6, 4], points: { show: false } });
          data.push(data[0].map(function () { return value; }));
        });
      }
      new uPlot(opts, data, el);
    });
  }

  // A running execution's log: read from the log API page by page until it is complete.
  function logTails(root) {
    root.querySelectorAll("[data-log-tail]").forEach(function (el) {
      if (el.dataset.tailing) return;
      el.dataset.tailing = "1";
      var offset = parseInt(el.dataset.offset || "0", 10);
      var url = el.dataset.logTail;
      function next() {
        fetch(url + "?offset=" + offset, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
          .then(function (page) {
            if (page.data) {
              var atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
              el.append(document.createTextNode(page.data));
              if (atEnd) el.scrollTop = el.scrollHeight;
            }
            offset = page.next_offset;
            el.dataset.offset = String(offset);
            if (page.complete) { el.dataset.complete = "1"; return; }
            setTimeout(next, page.data ? 200 : 1000);
          })
          .catch(function () { setTimeout(next, 3000); });
      }
      if (el.dataset.complete !== "1") next();
    });
  }

  // Buttons that ask first (abort, revoke, delete): data-confirm="question".
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.dataset && form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function enhance(root) { localTimes(root); charts(root); logTails(root); }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();

