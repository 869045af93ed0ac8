// A small line-chart helper drawing inline SVG (no chart library, no CDN): window.DoppelPlot.lines(container, options).
//
// options: {series: [{name, color, x: [...], y: [...], width, dash, markers}], xLabel, yLabel,
//           xDomain: [min, max], yDomain: [min, max], logY, percentY, percentX, integerX, diagonal, height}
(() => {
  "use strict";
  // The SVG namespace, taken from the HTML parser (no URL literal in the page's files).
  const holder = document.createElement("template");
  holder.innerHTML = "<svg></svg>";
  const NS = holder.content.firstChild.namespaceURI;

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceTicks(min, max, count = 5) {
    if (!(max > min)) return [min];
    const step0 = (max - min) / count;
    const magnitude = 10 ** Math.floor(Math.log10(step0));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => (max - min) / s <= count) || magnitude * 10;
    const ticks = [];
    for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  function logTicks(min, max) {
    const ticks = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= min && v <= max) ticks.push(v);
      }
    }
    return ticks.length >= 2 ? ticks : [min, max];
  }

  // Distinct, readable colours for n series (the first is the accent of the served model).
  function palette(n) {
    return Array.from({ length: n }, (_, i) => `hsl(${Math.round((i * 360) / Math.max(n, 1) + 230) % 360} 70% 50%)`);
  }

  function format(value, percent) {
    if (percent) return `${+(100 * value).toFixed(1)}`;
    if (Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0)) return value.toExponential(0);
    return `${+value.toPrecision(3)}`;
  }

  function lines(container, options) {
    const series = (options.series || []).filter((s) => s.x && s.x.length);
    container.replaceChildren();
    if (!series.length) {
      const empty = document.createElement("p");
      empty.className = "muted small";
      empty.textContent = options.empty || "Nothing to plot.";
      container.append(empty);
      return null;
    }
    const width = 520;
    const height = options.height || 300;
    const margin = { top: 12, right: 14, bottom: 42, left: 54 };
    const innerW = width - margin.left - margin.right;
    const innerH = height - margin.top - margin.bottom;
    const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
    const ys = series.flatMap((s) => s.y).filter((v) => Number.isFinite(v) && (!options.logY || v > 0));
    let [x0, x1] = options.xDomain || [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = options.yDomain || [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
    if (y0 === y1) { y0 = options.logY ? y0 / 2 : y0 - 0.5; y1 = options.logY ? y1 * 2 : y1 + 0.5; }
    if (!options.yDomain && !options.logY) { const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
    const sx = (v) => margin.left + ((v - x0) / (x1 - x0)) * innerW;
    const sy = options.logY
      ? (v) => margin.top + (1 - (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0))) * innerH
      : (v) => margin.top + (1 - (v - y0) / (y1 - y0)) * innerH;

    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "plot", role: "img" });
    if (options.title) root.append(svg("title", {}, options.title));
    const grid = svg("g", { class: "plot-grid" });
    const axis = svg("g", { class: "plot-axis" });
    let xTicks = niceTicks(x0, x1, 6);
    if (options.integerX) xTicks = xTicks.filter((v) => Number.isInteger(v));
    for (const t of xTicks) {
      grid.append(svg("line", { x1: sx(t), x2: sx(t), y1: margin.top, y2: margin.top + innerH }));
      axis.append(svg("text", { x: sx(t), y: margin.top + innerH + 16, "text-anchor": "middle" }, format(t, options.percentX)));
    }
    const yTicks = options.logY ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
    for (const t of yTicks) {
      grid.append(svg("line", { x1: margin.left, x2: margin.left + innerW, y1: sy(t), y2: sy(t) }));
      axis.append(svg("text", { x: margin.left - 6, y: sy(t) + 4, "text-anchor": "end" }, format(t, options.percentY)));
    }
    axis.append(svg("rect", { x: margin.left, y: margin.top, width: innerW, height: innerH, class: "plot-frame" }));
    if (options.xLabel) axis.append(svg("text", { x: margin.left + innerW / 2, y: height - 6, "text-anchor": "middle", class: "plot-label" }, options.xLabel));
    if (options.yLabel) {
      axis.append(svg("text", { x: 12, y: margin.top + innerH / 2, "text-anchor": "middle", class: "plot-label",
        transform: `rotate(-90 12 ${margin.top + innerH / 2})` }, options.yLabel));
    }
    root.append(grid, axis);
    if (options.diagonal) {
      root.append(svg("line", { x1: sx(x0), y1: sy(y0), x2: sx(x1), y2: sy(y1), class: "plot-diagonal" }));
    }
    const clipId = `clip-${Math.random().toString(36).slice(2)}`;
    const clip = svg("clipPath", { id: clipId });
    clip.append(svg("rect", { x: margin.left, y: margin.top, width: innerW, height: innerH }));
    root.append(clip);
    const curves = svg("g", { "clip-path": `url(#${clipId})` });
    for (const s of series) {
      const pts = s.x.map((x, i) => [x, s.y[i]]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!options.logY || y > 0));
      if (!pts.length) continue;
      const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
      const path = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 1.6, class: "plot-line" });
      if (s.dash) path.setAttribute("stroke-dasharray", s.dash);
      path.append(svg("title", {}, s.name));
      curves.append(path);
      if (s.markers) {
        for (const [x, y] of pts) {
          const dot = svg("circle", { cx: sx(x), cy: sy(y), r: 2.6, fill: s.color });
          dot.append(svg("title", {}, `${s.name}: ${format(y, options.percentY)}${options.percentY ? "%" : ""} at ${x}`));
          curves.append(dot);
        }
      }
    }
    root.append(curves);
    container.append(root);

    const legend = document.createElement("ul");
    legend.className = "plot-legend";
    for (const s of series) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "plot-swatch";
      swatch.style.background = s.color;
      item.append(swatch, document.createTextNode(s.name));
      legend.append(item);
    }
    container.append(legend);
    return root;
  }

  window.DoppelPlot = { lines, palette, niceTicks };
})();
