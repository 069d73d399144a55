// Charts as inline SVG, drawn by hand: stacked bars over time, points over time, a Gantt
// of runs, and a graph of job dependencies. Colours come from the theme's CSS variables;
// every mark has a <title> so its value is readable without the colour.

import { h, stamp, svg, span } from "./dom.js";

const W = 640;

/** The top of a chart's scale: `value` rounded up to 1, 2, 2.5 or 5 times a power of ten. */
export function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function frame(height, label) {
  return svg("svg", {
    viewBox: `0 0 ${W} ${height}`, class: "chart", role: "img", "aria-label": label,
  });
}

function yAxis(chart, top, bottom, max, format) {
  for (const f of [0, 0.5, 1]) {
    const y = bottom - (bottom - top) * f;
    chart.append(svg("line", { x1: 52, x2: W, y1: y, y2: y, class: "grid" }),
      svg("text", { x: 48, y: y + 4, class: "tick", "text-anchor": "end" }, format(max * f)));
  }
}

function xLabels(chart, from, to, y) {
  for (const f of [0, 0.5, 1]) {
    const at = new Date(from + (to - from) * f).toISOString();
    const anchor = f === 0 ? "start" : f === 1 ? "end" : "middle";
    chart.append(svg("text", { x: 52 + (W - 52) * f, y, class: "tick", "text-anchor": anchor },
      stamp(at).slice(5, 16)));
  }
}

/**
 * Stacked bars per time bucket: buckets [{at, parts: {name: n}}], keys [{name, cls, label}].
 */
export function stackedBars(buckets, keys, { from, to, width, label }) {
  const height = 180, top = 10, bottom = 150;
  const chart = frame(height, label);
  const totals = buckets.map((b) => keys.reduce((s, k) => s + (b.parts[k.name] || 0), 0));
  const max = niceMax(Math.max(4, ...totals));
  yAxis(chart, top, bottom, max, (v) => String(Math.round(v)));
  const slot = ((W - 52) * width) / Math.max(1, to - from);
  for (const bucket of buckets) {
    const x = 52 + ((new Date(bucket.at).getTime() - from) / (to - from)) * (W - 52);
    let y = bottom;
    for (const key of keys) {
      const n = bucket.parts[key.name] || 0;
      if (!n) continue;
      const tall = ((bottom - top) * n) / max;
      y -= tall;
      chart.append(svg("rect", {
        x, y, width: Math.max(1, slot - 1), height: tall, class: key.cls,
      }, svg("title", {}, `${stamp(bucket.at)}: ${n} ${key.label}`)));
    }
  }
  xLabels(chart, from, to, height - 8);
  return chart;
}

/** Points over time with a value axis: points [{at, value, title, cls}]. */
export function dots(points, { from, to, label, format }) {
  const height = 160, top = 10, bottom = 130;
  const chart = frame(height, label);
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  yAxis(chart, top, bottom, max, format);
  for (const p of points) {
    const x = 52 + ((new Date(p.at).getTime() - from) / Math.max(1, to - from)) * (W - 52);
    const y = bottom - ((bottom - top) * p.value) / max;
    chart.append(svg("circle", { cx: x, cy: y, r: 3, class: p.cls || "dot" },
      svg("title", {}, p.title)));
  }
  xLabels(chart, from, to, height - 8);
  return chart;
}

/** Bars side by side, one per item, oldest left: items [{value, cls, title, href}]. */
export function bars(items, { label, format }) {
  const height = 160, top = 10, bottom = 140;
  const chart = frame(height, label);
  const max = niceMax(Math.max(0, ...items.map((i) => i.value)));
  yAxis(chart, top, bottom, max, format);
  const slot = Math.min(40, (W - 52) / Math.max(items.length, 1));
  items.forEach((item, index) => {
    const tall = Math.max(1, ((bottom - top) * item.value) / max);
    const rect = svg("rect", {
      x: 52 + index * slot, y: bottom - tall, width: Math.max(1, slot - 2), height: tall,
      class: item.cls,
    }, svg("title", {}, item.title));
    chart.append(item.href ? svg("a", { href: item.href, "data-link": true }, rect) : rect);
  });
  return chart;
}

/**
 * A Gantt chart: rows [{label, href, bars: [{start, end, cls, title, href}]}] between
 * `from` and `to` (ms since the epoch).
 */
export function gantt(rows, { from, to, label }) {
  const left = 150, rowH = 22, top = 20;
  const height = top + rows.length * rowH + 10;
  const chart = svg("svg", {
    viewBox: `0 0 ${W + 110} ${height}`, class: "chart gantt", role: "img", "aria-label": label,
  });
  const scale = (t) => left + ((t - from) / (to - from)) * (W + 100 - left);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const x = left + f * (W + 100 - left);
    const at = new Date(from + (to - from) * f).toISOString();
    chart.append(svg("line", { x1: x, x2: x, y1: top - 4, y2: height, class: "grid" }),
      svg("text", { x, y: 12, class: "tick", "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle" },
        stamp(at).slice(5, 16)));
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const name = row.label.length > 22 ? `${row.label.slice(0, 21)}…` : row.label;
    chart.append(svg("a", { href: row.href, "data-link": true },
      svg("text", { x: 4, y: y + 15, class: "row-label" }, name, svg("title", {}, row.label))));
    for (const bar of row.bars) {
      const x1 = scale(Math.max(bar.start, from));
      const x2 = scale(Math.min(bar.end, to));
      chart.append(svg("a", { href: bar.href, "data-link": true },
        svg("rect", { x: x1, y: y + 4, width: Math.max(2, x2 - x1), height: rowH - 8, class: bar.cls },
          svg("title", {}, bar.title))));
    }
  });
  return chart;
}

/**
 * A dependency graph, parents left of children: nodes [{id, cls, href, current, title,
 * note, attrs}] (`note`: a second line, e.g. the state in words; `attrs`: extra attributes
 * of the node's link), edges [{from, to, label}]. Layers come from the longest path from a
 * root.
 */
export function graph(nodes, edges) {
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      if (layer.has(e.from) && layer.has(e.to) && layer.get(e.to) <= layer.get(e.from)) {
        layer.set(e.to, layer.get(e.from) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const n of nodes) (columns[layer.get(n.id)] ||= []).push(n);
  const boxW = 150, boxH = nodes.some((n) => n.note) ? 44 : 30, gapX = 60, gapY = 16;
  const place = new Map();
  columns.forEach((column, c) => column.forEach((n, r) => {
    place.set(n.id, { x: 10 + c * (boxW + gapX), y: 10 + r * (boxH + gapY) });
  }));
  const width = 20 + columns.length * (boxW + gapX);
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (boxH + gapY);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart graph", role: "img",
    "aria-label": "dependency graph", width, height,
  });
  for (const e of edges) {
    const a = place.get(e.from), b = place.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + boxW, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2;
    chart.append(svg("path", {
      d: `M${x1},${y1} C${x1 + gapX / 2},${y1} ${x2 - gapX / 2},${y2} ${x2 - 4},${y2}`,
      class: `edge on-${e.label}`,
    }, svg("title", {}, `${e.to} runs after ${e.from} on ${e.label}`)));
    chart.append(svg("circle", { cx: x2 - 3, cy: y2, r: 3, class: "edge-end" }));
  }
  for (const n of nodes) {
    const p = place.get(n.id);
    const name = n.id.length > 20 ? `${n.id.slice(0, 19)}…` : n.id;
    chart.append(svg("a", { ...n.attrs, href: n.href, "data-link": true },
      svg("rect", { x: p.x, y: p.y, width: boxW, height: boxH, rx: 6,
        class: `node ${n.cls || ""} ${n.current ? "current" : ""}` }),
      svg("text", { x: p.x + 8, y: p.y + 19, class: "node-label" }, name),
      n.note ? svg("text", { x: p.x + 8, y: p.y + 35, class: "node-note" }, n.note) : null,
      svg("title", {}, n.title || n.id)));
  }
  return h("div", { class: "graph-wrap" }, chart);
}

/** A small legend for chart classes: [{cls, label}]. */
export function legend(keys) {
  return h("p", { class: "legend" }, keys.map((k) =>
    h("span", { class: "key" }, h("span", { class: `swatch ${k.cls}` }), k.label)));
}

export { span };
