// Draws each panel of a runsteps report from the JSON block #report-data: its Vega-Lite spec reads the
// dataset "rows" (the query's result as is), a table lists the columns the panel names, and the CSV
// button saves the same rows. Nothing here computes a figure; nothing here reaches the network.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var byId = {};
  data.panels.forEach(function (p) { byId[p.id] = p; });

  var config = {
    font: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    background: null,
    view: { stroke: null },
    range: { category: { scheme: "tableau10" } },
    axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 500, titleColor: "#555",
            labelColor: "#444", gridColor: "#eceef1", domainColor: "#c9ced6", tickColor: "#c9ced6" },
    legend: { labelFontSize: 11, titleFontSize: 11, titleColor: "#555", labelLimit: 260, columns: 3 }
  };

  // A fixed colour scale (the statuses) lists in its legend only the values this chart's rows hold.
  function fitScales(spec, rows) {
    Object.keys(spec.encoding || {}).forEach(function (channel) {
      var enc = spec.encoding[channel];
      var scale = enc && enc.scale;
      if (!scale || !Array.isArray(scale.domain) || !Array.isArray(scale.range)) { return; }
      var present = {};
      rows.forEach(function (row) { present[row[enc.field]] = true; });
      var keep = scale.domain.map(function (v, i) { return present[v] ? i : -1; }).filter(function (i) { return i >= 0; });
      if (keep.length < Object.keys(present).length) { return; }  // a value the scale does not know: keep it whole
      enc.scale = Object.assign({}, scale, {
        domain: keep.map(function (i) { return scale.domain[i]; }),
        range: keep.map(function (i) { return scale.range[i]; })
      });
    });
    return spec;
  }

  function draw(p) {
    var el = document.getElementById("chart-" + p.id);
    if (!el || !p.spec) { return Promise.resolve(); }
    var spec = JSON.parse(JSON.stringify(p.spec));
    if (spec.height && spec.height.step) {
      // One bar per row of a top-N result: a fixed height (Vega-Lite warns about a step height beside a
      // container width).
      spec.height = spec.height.step * p.rows.length;
    }
    spec = Object.assign({ width: "container", height: 260, autosize: { type: "fit-x", contains: "padding" } },
      fitScales(spec, p.rows), { config: config, data: { name: "rows" }, datasets: { rows: p.rows } });
    return vegaEmbed(el, spec, {
      mode: "vega-lite", renderer: "svg",
      actions: { export: true, source: false, compiled: false, editor: false }
    }).then(function () { el.dataset.drawn = "true"; });
  }

  function cell(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  // 2026-01-01T10:08:41+00:00 reads better as 2026-01-01 10:08:41 in a table (the CSV keeps the ISO form).
  function shown(value) {
    var s = cell(value);
    return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/.test(s) ? s.replace("T", " ").replace("+00:00", "") : s;
  }

  function fillTable(p) {
    var el = document.getElementById("table-" + p.id);
    if (!el || !p.table.length) { return; }
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    p.table.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
    var body = table.createTBody();
    p.rows.slice(0, 50).forEach(function (row) {
      var tr = body.insertRow();
      p.table.forEach(function (c) { tr.insertCell().textContent = shown(row[c]); });
    });
    el.appendChild(table);
    if (p.rows.length > 50) {
      var more = document.createElement("p");
      more.className = "more";
      more.textContent = "The first 50 of " + p.rows.length + " rows; the CSV holds them all.";
      el.appendChild(more);
    }
  }

  function csv(p) {
    var quote = function (v) {
      var s = cell(v);
      return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    var lines = [p.columns.map(quote).join(",")];
    p.rows.forEach(function (row) { lines.push(p.columns.map(function (c) { return quote(row[c]); }).join(",")); });
    return lines.join("\r\n") + "\r\n";
  }

  document.querySelectorAll("button[data-csv]").forEach(function (button) {
    button.addEventListener("click", function () {
      var p = byId[button.dataset.csv];
      var url = URL.createObjectURL(new Blob([csv(p)], { type: "text/csv" }));
      var a = document.createElement("a");
      a.href = url;
      a.download = p.query + ".csv";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  });

  data.panels.forEach(fillTable);
  var drawn = data.panels.filter(function (p) { return p.rows.length; }).map(function (p) {
    return draw(p).catch(function (error) {
      console.error("chart " + p.id + " (query " + p.query + ") failed: " + error);
      var el = document.getElementById("chart-" + p.id);
      if (el) { el.textContent = "This chart could not be drawn: " + error; el.className = "chart failed"; }
    });
  });
  Promise.all(drawn).then(function () { document.body.dataset.ready = "true"; });
  window.runstepsReport = { csv: function (id) { return csv(byId[id]); } };
})();
