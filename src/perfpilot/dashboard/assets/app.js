// perfpilot dashboard: fills index.html from the JSON embedded in it.
// Values from run records only ever reach the page as text (textContent), and are
// entity-escaped before Plotly sees them (Plotly reads a few HTML tags in its labels).
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("perfpilot-data").textContent);

  const COLUMNS = [
    { key: "run", label: "run" },
    { key: "started", label: "started" },
    { key: "model", label: "model" },
    { key: "scenario", label: "scenario" },
    { key: "mode", label: "mode" },
    { key: "backend", label: "backend" },
    { key: "device", label: "device" },
    { key: "system", label: "system" },
    { key: "source", label: "source" },
    { key: "verdict", label: "status" },
    { key: "value", label: "result", numeric: true },
    { key: "unit", label: "unit" },
    { key: "accuracy", label: "accuracy", numeric: true },
    { key: "p90_ms", label: "p90 ms", numeric: true },
    { key: "p99_ms", label: "p99 ms", numeric: true },
    // token benchmarks (LLMs): shown when some row has them
    { key: "ttft_p99_ms", label: "TTFT p99 ms", numeric: true, optional: true },
    { key: "tpot_p99_ms", label: "TPOT p99 ms", numeric: true, optional: true },
    { key: "tags", label: "tags" },
  ].filter((c) => !c.optional || data.rows.some((row) => typeof row[c.key] === "number"));
  const FILTERS = ["model", "scenario", "backend", "device", "source", "verdict"];
  const SYMBOLS = { local: "circle", published: "diamond" };

  const state = { sortKey: "started", sortDir: -1, text: "", select: {} };

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  // For Plotly labels: it turns &lt; back into "<" and shows it as text.
  function plotText(value) {
    return String(value === null || value === undefined ? "-" : value)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;");
  }

  function formatNumber(value) {
    if (value === null || value === undefined) return "-";
    if (Math.abs(value) >= 100) return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
    return value.toPrecision(4);
  }

  function tagText(tags) {
    return Object.keys(tags || {})
      .sort()
      .map((k) => k + "=" + tags[k])
      .join(" ");
  }

  function cellText(row, key) {
    if (key === "run") return row.run_id || row.id;
    if (key === "tags") return tagText(row.tags);
    const value = row[key];
    if (typeof value === "number") return formatNumber(value);
    return value === null || value === undefined || value === "" ? "-" : String(value);
  }

  function compare(a, b, column) {
    const x = column.key === "run" ? a.run_id || a.id : a[column.key];
    const y = column.key === "run" ? b.run_id || b.id : b[column.key];
    const xMissing = x === null || x === undefined;
    const yMissing = y === null || y === undefined;
    if (xMissing || yMissing) return xMissing === yMissing ? 0 : xMissing ? 1 : -1;
    if (column.numeric) return (x - y) * state.sortDir;
    return String(cellText(a, column.key)).localeCompare(cellText(b, column.key)) * state.sortDir;
  }

  function visibleRows() {
    const needle = state.text.trim().toLowerCase();
    return data.rows.filter((row) => {
      for (const key of FILTERS) {
        const chosen = state.select[key];
        if (chosen && cellText(row, key) !== chosen) return false;
      }
      if (!needle) return true;
      const haystack = COLUMNS.map((c) => cellText(row, c.key)).join(" ").toLowerCase();
      return haystack.includes(needle);
    });
  }

  function renderHead() {
    const tr = el("tr");
    for (const column of COLUMNS) {
      const arrow = state.sortKey === column.key ? (state.sortDir > 0 ? " \u25b2" : " \u25bc") : "";
      const th = el("th", column.label + arrow, { "data-key": column.key, title: "sort" });
      th.addEventListener("click", () => {
        state.sortDir = state.sortKey === column.key ? -state.sortDir : 1;
        state.sortKey = column.key;
        render();
      });
      tr.appendChild(th);
    }
    const thead = document.querySelector("#results-table thead");
    thead.replaceChildren(tr);
  }

  function renderBody() {
    const column = COLUMNS.find((c) => c.key === state.sortKey) || COLUMNS[1];
    const rows = visibleRows().sort((a, b) => compare(a, b, column));
    const tbody = document.querySelector("#results-table tbody");
    tbody.replaceChildren();
    for (const row of rows) {
      const tr = el("tr", null, { class: "source-" + (row.source === "published" ? "published" : "local") });
      for (const c of COLUMNS) {
        const td = el("td", null, c.numeric ? { class: "num" } : {});
        if (c.key === "run") {
          td.appendChild(el("a", cellText(row, "run"), { href: row.page }));
        } else {
          td.textContent = cellText(row, c.key);
          if (c.key === "verdict") td.className = "verdict-" + cellText(row, c.key).toLowerCase();
        }
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    document.getElementById("row-count").textContent =
      rows.length + " of " + data.rows.length + " rows";
  }

  function render() {
    renderHead();
    renderBody();
  }

  function buildFilters() {
    const box = document.getElementById("filters");
    const input = el("input", null, {
      id: "filter-text",
      type: "search",
      placeholder: "filter: any text in a row",
      "aria-label": "text filter",
    });
    input.addEventListener("input", () => {
      state.text = input.value;
      renderBody();
    });
    box.appendChild(input);
    for (const key of FILTERS) {
      const label = COLUMNS.find((c) => c.key === key).label;
      const select = el("select", null, { id: "filter-" + key, "aria-label": label });
      select.appendChild(el("option", "all " + label, { value: "" }));
      const values = [...new Set(data.rows.map((row) => cellText(row, key)))].sort();
      for (const value of values) select.appendChild(el("option", value, { value: value }));
      select.addEventListener("change", () => {
        state.select[key] = select.value;
        renderBody();
      });
      box.appendChild(select);
    }
  }

  function plot(container, traces, layout) {
    const base = {
      margin: { l: 70, r: 20, t: 10, b: 90 },
      height: 360,
      hovermode: "closest",
      showlegend: true,
      legend: { orientation: "h", y: -0.35 },
    };
    Plotly.newPlot(container, traces, Object.assign(base, layout), {
      displaylogo: false,
      responsive: true,
    });
    container.on("plotly_click", (event) => {
      const page = event.points[0] && event.points[0].customdata;
      if (page) window.location.href = page;
    });
  }

  function chartFigure(list, heading, note) {
    const figure = el("figure", null, { class: "chart" });
    figure.appendChild(el("h3", heading));
    if (note) figure.appendChild(el("p", note, { class: "muted" }));
    const div = el("div", null, { class: "plot" });
    figure.appendChild(div);
    list.appendChild(figure);
    return div;
  }

  function renderCharts() {
    const list = document.getElementById("chart-list");
    if (!data.charts.length) list.appendChild(el("p", "No performance results yet.", { class: "muted" }));
    for (const chart of data.charts) {
      const better = chart.higher_is_better ? "higher is better" : "lower is better";
      const div = chartFigure(list, chart.model + " \u00b7 " + chart.scenario, chart.unit + ", " + better);
      const groups = new Map();
      for (const p of chart.points) {
        const name = p.source + " \u00b7 " + (p.backend || "?");
        if (!groups.has(name)) groups.set(name, []);
        groups.get(name).push(p);
      }
      const traces = [...groups.entries()].map(([name, points]) => ({
        type: "scatter",
        mode: "markers",
        name: plotText(name),
        x: points.map((p) => plotText(p.label)),
        y: points.map((p) => p.value),
        customdata: points.map((p) => p.page),
        text: points.map((p) => plotText(p.label + " (" + p.verdict + ", " + (p.device || "?") + ")")),
        hovertemplate: "%{text}<br>%{y}<extra></extra>",
        marker: { size: 11, symbol: SYMBOLS[points[0].source] || "circle" },
        cliponaxis: false,
      }));
      const categories = new Set(chart.points.map((p) => p.label)).size;
      plot(div, traces, {
        xaxis: { type: "category", automargin: true, range: [-0.5, categories - 0.5] },
        yaxis: { title: { text: plotText(chart.unit) }, rangemode: "tozero" },
      });
    }
  }

  function renderSweeps() {
    const list = document.getElementById("sweep-list");
    if (!data.sweeps.length) list.appendChild(el("p", "No sweeps yet.", { class: "muted" }));
    for (const sweep of data.sweeps) {
      const axes = Object.keys(sweep.objectives);
      const [yKey, xKey] = sweep.axes ? [sweep.axes.y, sweep.axes.x] : axes.length > 1 ? axes : [axes[0], axes[0]];
      const goal = axes.map((k) => sweep.objectives[k] + " " + k).join(", ");
      const heading = "sweep " + sweep.sweep + ": " + sweep.model + " \u00b7 " + sweep.scenario;
      const div = chartFigure(list, heading, "Pareto front over: " + goal + " (value in " + sweep.unit + ")");
      const onFront = new Set(sweep.front);
      const front = sweep.points.filter((p) => onFront.has(p.key)).sort((a, b) => a[xKey] - b[xKey]);
      const trace = (name, points, extra) =>
        Object.assign(
          {
            type: "scatter",
            name: name,
            x: points.map((p) => p[xKey]),
            y: points.map((p) => p[yKey]),
            customdata: points.map((p) => p.page),
            text: points.map((p) =>
              plotText(
                p.point + " (" + (p.backend || "?") + ", " + p.verdict + ")" +
                  (p.ttft_p99_ms != null ? ", TTFT p99 " + p.ttft_p99_ms.toFixed(1) + " ms" : "")
              )
            ),
            hovertemplate: "%{text}<br>" + xKey + " %{x}<br>" + yKey + " %{y}<extra></extra>",
          },
          extra
        );
      plot(div, [
        trace("all points", sweep.points, { mode: "markers", marker: { size: 9, color: "#9aa5b1" }, cliponaxis: false }),
        trace("Pareto front", front, { mode: "lines+markers", marker: { size: 12, color: "#d9480f" } }),
      ], {
        xaxis: { title: { text: plotText(xKey) } },
        yaxis: { title: { text: plotText(yKey) } },
      });
    }
  }

  const counts = data.counts;
  document.getElementById("summary").textContent =
    counts.local + " local run(s), " + counts.published + " published result(s); built " + data.generated;
  buildFilters();
  render();
  renderCharts();
  renderSweeps();
})();
