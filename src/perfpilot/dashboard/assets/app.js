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
    { key: "verdict", label: "status" },
    { key: "value", label: "result", numeric: true },
    { key: "metric_label", label: "metric" },
    { key: "accuracy", label: "accuracy", numeric: true },
    { key: "p90_ms", label: "p90 ms", numeric: true },
    { key: "p99_ms", label: "p99 ms", numeric: true },
    // token benchmarks (LLMs): shown when some row has them
    { key: "ttft_p99_ms", label: "TTFT p99 ms", numeric: true, optional: true },
    { key: "tpot_p99_ms", label: "TPOT p99 ms", numeric: true, optional: true },
    { key: "backend", label: "backend" },
    { key: "device", label: "device" },
    { key: "system", label: "system" },
    { key: "source", label: "source" },
    { key: "tags", label: "tags" },
  ].filter((c) => !c.optional || data.rows.some((row) => typeof row[c.key] === "number"));
  const FILTERS = ["model", "scenario", "backend", "device", "source", "verdict"];
  const GROUPINGS = { backend: "backend", system: "system", date: "date" };
  const LOG_SPAN = 30;
  const ALL_DATES = data.rows.filter((r) => r.started && r.source !== "published").map((r) => r.started).sort(); // a log axis once the largest value is this many times the smallest

  const state = { sortKey: "started", sortDir: -1, text: "", select: {} };
  const chartState = { x: "backend", noInference: false };

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

  // A figure with its unit: "11,830.1 samples/s", "2.369 ms".
  function figure(value, unit) {
    if (value === null || value === undefined) return "-";
    const text = unit && unit.endsWith("/s")
      ? value.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })
      : value.toLocaleString("en-US", { minimumFractionDigits: 3, maximumFractionDigits: 3 });
    return unit ? text + " " + unit : text;
  }

  function accuracyText(value, metric) {
    if (value === null || value === undefined) return "-";
    return (metric || "accuracy") + " " + value.toFixed(3) + "%";
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
    if (key === "value") return figure(row.value, row.unit);
    if (key === "accuracy") return accuracyText(row.accuracy, row.accuracy_metric);
    const value = row[key];
    if (typeof value === "number") return formatNumber(value);
    return value === null || value === undefined || value === "" ? "-" : String(value);
  }

  function verdictClass(text) {
    return "verdict-" + String(text).toLowerCase().replace(/\s+/g, "-");
  }

  // ------------------------------------------------------------------ leaderboard

  function sub(text) {
    return el("div", text, { class: "sub muted" });
  }

  function link(text, href) {
    return href ? el("a", text, { href: href }) : el("span", text);
  }

  function renderLeaderboard() {
    const table = document.getElementById("leaderboard-table");
    const head = el("tr");
    const headers = [
      ["model", ""],
      ["scenario", ""],
      ["result", "result"],
      ["status", "status"],
      ["accuracy", "accuracy"],
      ["vs published", ""],
      ["backend \u00b7 system", ""],
      ["date", ""],
      ["other backends / systems", ""],
    ];
    for (const [label, key] of headers) head.appendChild(el("th", label, key ? { "data-col": key } : {}));
    table.querySelector("thead").replaceChildren(head);
    const body = table.querySelector("tbody");
    body.replaceChildren();
    if (!data.leaderboard.length) {
      const tr = el("tr");
      tr.appendChild(el("td", "No results yet: run 'perfpilot run' and build again.", { colspan: "9", class: "muted" }));
      body.appendChild(tr);
    }
    for (const entry of data.leaderboard) {
      const best = entry.best;
      const tr = el("tr", null, { class: "source-" + (entry.source === "published" ? "published" : "local") });

      const model = el("td");
      model.appendChild(el("strong", entry.model));
      if (entry.model !== entry.benchmark) model.appendChild(sub("MLPerf " + entry.benchmark));
      if (entry.standin) model.appendChild(el("div", "stand-in: random weights", { class: "badge" }));
      if (entry.source === "published") model.appendChild(el("div", "published only", { class: "badge" }));
      tr.appendChild(model);

      tr.appendChild(el("td", entry.scenario));

      const result = el("td", null, { class: "num result", "data-col": "result" });
      if (best) {
        result.appendChild(link(figure(best.value, entry.unit), best.page));
      } else {
        result.appendChild(el("span", "no VALID run", { class: "muted" }));
      }
      result.appendChild(sub(entry.metric_name + (entry.higher_is_better ? " \u2191" : " \u2193")));
      if (entry.best_no_inference) result.appendChild(el("div", "null backend: no inference", { class: "badge" }));
      tr.appendChild(result);

      const status = el("td", null, { class: "status", "data-col": "status" });
      const verdict = best ? "VALID" : entry.latest_verdict;
      status.appendChild(el("span", verdict, { class: verdictClass(verdict) }));
      status.appendChild(sub(entry.valid_runs + "/" + entry.runs + " runs valid"));
      tr.appendChild(status);

      const accuracy = el("td", null, { class: "num acc", "data-col": "accuracy" });
      const acc = entry.accuracy;
      if (acc) {
        accuracy.appendChild(link(accuracyText(acc.value, acc.metric), acc.page));
        accuracy.title = "from the " + (acc.scenario || "?") + " accuracy run on " + (acc.backend || "?");
        const word = acc.passed === null ? "NOT JUDGED" : acc.passed ? "PASS" : "FAIL";
        const line = el("div", null, { class: "sub" });
        line.appendChild(el("span", word, { class: verdictClass(word) }));
        if (acc.target !== null && acc.target !== undefined) {
          line.appendChild(el("span", " target " + acc.target.toFixed(3) + "%", { class: "muted" }));
        }
        accuracy.appendChild(line);
      } else {
        accuracy.appendChild(el("span", "no accuracy run", { class: "muted" }));
      }
      tr.appendChild(accuracy);

      const versus = el("td", null, { class: "num" });
      const pub = entry.published;
      if (pub && entry.source !== "published") {
        const ratio = entry.vs_published;
        const times = ratio === null ? "-" : (ratio >= 10 ? formatNumber(ratio) : ratio.toPrecision(2)) + "\u00d7";
        versus.appendChild(el("span", times, { title: "your best / the best published (latency: inverted): > 1\u00d7 is better" }));
        versus.appendChild(sub(figure(pub.value, entry.unit) + " " + pub.who));
      } else {
        versus.appendChild(el("span", entry.source === "published" ? "(is published)" : "none imported", { class: "muted" }));
      }
      tr.appendChild(versus);

      const setup = el("td");
      if (best) {
        setup.appendChild(el("span", (best.backend || "?") + " on " + (best.device || "?")));
        setup.appendChild(sub(best.system || "-"));
      } else setup.textContent = "-";
      tr.appendChild(setup);

      tr.appendChild(el("td", best ? best.date || "-" : "-", { class: "date" }));

      const others = el("td", null, { class: "others" });
      for (const other of entry.others) {
        const line = el("div");
        line.appendChild(link(other.name + ": " + figure(other.value, entry.unit), other.page));
        others.appendChild(line);
      }
      if (!entry.others.length) others.appendChild(el("span", "-", { class: "muted" }));
      tr.appendChild(others);

      body.appendChild(tr);
    }
  }

  // ------------------------------------------------------------------ all runs

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
    document.querySelector("#results-table thead").replaceChildren(tr);
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
          if (c.key === "verdict") td.className = verdictClass(cellText(row, c.key));
          if (c.key === "value" && row.metric_name) td.title = row.metric_name;
          if (c.key === "accuracy" && row.accuracy_target !== null && row.accuracy_target !== undefined) {
            td.title = "target " + row.accuracy_target.toFixed(3) + "%";
          }
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

  // ------------------------------------------------------------------ charts

  function plot(container, traces, layout) {
    const base = {
      margin: { l: 80, r: 20, t: 10, b: 60 },
      height: 360,
      hovermode: "closest",
      showlegend: true,
      legend: { orientation: "h", y: -0.3 },
    };
    Plotly.react(container, traces, Object.assign(base, layout), {
      displaylogo: false,
      responsive: true,
    });
    if (!container.dataset.clicks) {
      container.dataset.clicks = "1";
      container.on("plotly_click", (event) => {
        const page = event.points[0] && event.points[0].customdata;
        if (page) window.location.href = page;
      });
    }
  }

  function chartFigure(list, heading, note) {
    const figureNode = el("figure", null, { class: "chart" });
    figureNode.appendChild(el("h3", heading));
    const noteNode = el("p", note, { class: "muted" });
    figureNode.appendChild(noteNode);
    const div = el("div", null, { class: "plot" });
    figureNode.appendChild(div);
    list.appendChild(figureNode);
    return { div: div, note: noteNode };
  }

  // What kind of point: the legend names it, so a stand-in or a backend that runs no
  // model is never mistaken for a real result.
  function series(p) {
    if (p.source === "published") return "published";
    if (p.no_inference) return "null backend (no inference: LoadGen overhead only)";
    if (p.standin) return "your runs: stand-in model (random weights)";
    return "your runs";
  }
  const SERIES_STYLE = {
    published: { symbol: "diamond", color: "#b7791f" },
    "your runs": { symbol: "circle", color: "#1c5fb8" },
    "your runs: stand-in model (random weights)": { symbol: "square", color: "#6b46c1" },
    "null backend (no inference: LoadGen overhead only)": { symbol: "x", color: "#7b8794" },
  };

  function xOf(p) {
    if (chartState.x === "date") return p.started || null;
    if (p.source === "published") return "published: " + p.label;
    if (chartState.x === "system") return p.system || "?";
    return (p.backend || "?") + " on " + (p.device || "?");
  }

  function buildChartControls() {
    const box = document.getElementById("chart-controls");
    const label = el("label", "x axis ");
    const select = el("select", null, { id: "chart-x", "aria-label": "x axis" });
    for (const key of Object.keys(GROUPINGS)) select.appendChild(el("option", "by " + key, { value: key }));
    select.addEventListener("change", () => {
      chartState.x = select.value;
      renderCharts();
    });
    label.appendChild(select);
    box.appendChild(label);
    const toggle = el("label", null, { class: "toggle" });
    const box2 = el("input", null, { type: "checkbox", id: "chart-no-inference" });
    box2.addEventListener("change", () => {
      chartState.noInference = box2.checked;
      renderCharts();
    });
    toggle.appendChild(box2);
    toggle.appendChild(document.createTextNode(" show null-backend runs (no inference)"));
    box.appendChild(toggle);
  }

  function renderCharts() {
    const list = document.getElementById("chart-list");
    list.replaceChildren();
    if (!data.charts.length) list.appendChild(el("p", "No performance results yet.", { class: "muted" }));
    for (const chart of data.charts) {
      const better = chart.higher_is_better ? "higher is better" : "lower is better";
      const hidden = chart.points.filter((p) => p.no_inference && !chartState.noInference);
      const shown = chart.points.filter((p) => !hidden.includes(p));
      const heading = chart.model + " \u00b7 " + chart.scenario + ": " + chart.metric_label + " (" + chart.unit + ")";
      const values = shown.map((p) => p.value).filter((v) => v > 0);
      const span = values.length ? Math.max(...values) / Math.min(...values) : 1;
      const log = span >= LOG_SPAN;
      let note = better + (log ? "; log scale (values span " + formatNumber(span) + "\u00d7)" : "");
      if (hidden.length) note += "; " + hidden.length + " null-backend point(s) hidden (tick the box above to show)";
      const { div } = chartFigure(list, heading, note);
      const byDate = chartState.x === "date";
      const groups = new Map();
      for (const p of shown) {
        const name = series(p);
        if (!groups.has(name)) groups.set(name, []);
        groups.get(name).push(p);
      }
      // the span of this chart's run dates, else of every local run's
      let dates = shown.filter((p) => p.started).map((p) => p.started).sort();
      if (!dates.length) dates = ALL_DATES;
      const traces = [];
      for (const [name, points] of groups.entries()) {
        const style = SERIES_STYLE[name] || SERIES_STYLE["your runs"];
        const hover = (p) =>
          plotText(p.label + " \u00b7 " + p.verdict + (p.started ? " \u00b7 " + p.started : "")) +
          "<br>" + plotText(figure(p.value, chart.unit));
        if (byDate && name === "published") {
          // published results have no date: a level line across the local runs' dates
          for (const p of points) {
            if (!dates.length) continue; // no dated run to draw it across
            const ends = [dates[0], dates[dates.length - 1]];
            traces.push({
              type: "scatter",
              mode: "lines",
              name: plotText("published: " + p.label),
              x: ends,
              y: [p.value, p.value],
              line: { dash: "dash", color: style.color },
              hovertemplate: hover(p) + "<extra></extra>",
            });
          }
          continue;
        }
        traces.push({
          type: "scatter",
          mode: "markers",
          name: plotText(name),
          x: points.map((p) => plotText(xOf(p))),
          y: points.map((p) => p.value),
          customdata: points.map((p) => p.page),
          text: points.map(hover),
          hovertemplate: "%{text}<extra></extra>",
          marker: { size: 11, symbol: style.symbol, color: style.color, opacity: 0.85 },
          cliponaxis: false,
        });
      }
      const yaxis = {
        title: { text: plotText(chart.metric_label + " (" + chart.unit + ")") },
        type: log ? "log" : "linear",
        automargin: true,
      };
      if (!log) yaxis.rangemode = "tozero";
      const xaxis = byDate
        ? { type: "date", title: { text: "date" }, automargin: true }
        : { type: "category", title: { text: chartState.x }, automargin: true, tickangle: 0 };
      plot(div, traces, { xaxis: xaxis, yaxis: yaxis });
    }
  }

  // ------------------------------------------------------------------ sweeps

  const SWEEP_AXES = {
    tokens_per_user: "tokens/s per user (1 / median TPOT)",
    p99_ms: "p99 latency (ms)",
  };

  function renderSweeps() {
    const list = document.getElementById("sweep-list");
    if (!data.sweeps.length) list.appendChild(el("p", "No sweeps yet: see 'perfpilot sweep run'.", { class: "muted" }));
    for (const sweep of data.sweeps) {
      const axes = Object.keys(sweep.objectives);
      const [yKey, xKey] = sweep.axes ? [sweep.axes.y, sweep.axes.x] : axes.length > 1 ? axes : [axes[0], axes[0]];
      const name = (key) => (key === "value" ? sweep.metric_label + " (" + sweep.unit + ")" : SWEEP_AXES[key] || key);
      const goal = axes.map((k) => (sweep.objectives[k] === "max" ? "higher " : "lower ") + name(k)).join(", ");
      const heading = "sweep " + sweep.sweep + ": " + sweep.model + " \u00b7 " + sweep.scenario;
      const { div } = chartFigure(list, heading, "Pareto front (orange line): no other point is better on both " + goal + ".");
      const onFront = new Set(sweep.front);
      const front = sweep.points.filter((p) => onFront.has(p.key)).sort((a, b) => a[xKey] - b[xKey]);
      const trace = (label, points, extra) =>
        Object.assign(
          {
            type: "scatter",
            name: label,
            x: points.map((p) => p[xKey]),
            y: points.map((p) => p[yKey]),
            customdata: points.map((p) => p.page),
            text: points.map((p) =>
              plotText(
                "point " + p.point + " (" + (p.backend || "?") + ", " + p.verdict + ")" +
                  (p.ttft_p99_ms != null ? ", TTFT p99 " + p.ttft_p99_ms.toFixed(1) + " ms" : "")
              )
            ),
            hovertemplate: "%{text}<br>" + plotText(name(xKey)) + " %{x}<br>" + plotText(name(yKey)) + " %{y}<extra></extra>",
          },
          extra
        );
      plot(div, [
        trace("all points", sweep.points, { mode: "markers", marker: { size: 9, color: "#9aa5b1" }, cliponaxis: false }),
        trace("Pareto front", front, { mode: "lines+markers", marker: { size: 12, color: "#d9480f" } }),
      ], {
        xaxis: { title: { text: plotText(name(xKey)) }, automargin: true },
        yaxis: { title: { text: plotText(name(yKey)) }, automargin: true },
      });
    }
  }

  const counts = data.counts;
  document.getElementById("summary").textContent =
    counts.local + " local run(s), " + counts.published + " published result(s); built " + data.generated;
  renderLeaderboard();
  buildChartControls();
  renderCharts();
  renderSweeps();
  buildFilters();
  render();
})();
