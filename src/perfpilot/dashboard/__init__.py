"""Static HTML dashboard: results table, charts, sweep Pareto plots and run pages,
built from the results (HTML + JSON + Plotly; works offline, no server needed)."""
