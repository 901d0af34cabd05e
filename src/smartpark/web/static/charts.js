// Small SVG charts for the dashboard: a time line chart and a (stacked or grouped) bar chart.
const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f8a5b", "#2d6cb5", "#c98a0b", "#8b4fb3", "#c23b31", "#3a9fa8", "#6b7d2a"];
const W = 640, H = 260, M = { top: 12, right: 14, bottom: 34, left: 58 };

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function niceTicks(min, max, count = 5) {
  if (min === max) { max = min + 1; }
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const ticks = [];
  const top = Math.ceil(max / step - 1e-9) * step;
  for (let v = Math.floor(min / step) * step; v <= top + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

export function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function frame(container, label, yMin, yMax) {
  container.replaceChildren();
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  const ticks = niceTicks(yMin, yMax);
  const lo = Math.min(yMin, ticks[0]), hi = Math.max(yMax, ticks[ticks.length - 1]);
  const y = (v) => M.top + (H - M.top - M.bottom) * (1 - (v - lo) / (hi - lo || 1));
  const grid = el("g", { class: "grid" }, svg);
  for (const t of ticks) {
    el("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }, grid);
    el("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, svg).textContent = fmtNum(t);
  }
  container.appendChild(svg);
  return { svg, y };
}

function legend(container, items) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const { name, color, dashed } of items) {
    const span = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = dashed ? `repeating-linear-gradient(90deg, ${color} 0 4px, transparent 4px 7px)` : color;
    span.append(sw, name);
    box.appendChild(span);
  }
  container.appendChild(box);
}

// series: [{name, color, points: [[Date, value|null], ...], dashed}]
export function lineChart(container, { series, label, timeLabel }) {
  const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  if (!pts.length) { container.innerHTML = '<p class="empty">No data in this range.</p>'; return; }
  const t0 = Math.min(...pts.map((p) => +p[0])), t1 = Math.max(...pts.map((p) => +p[0]));
  const vals = pts.map((p) => p[1]);
  const { svg, y } = frame(container, label, Math.min(0, ...vals), Math.max(...vals));
  const x = (t) => M.left + (W - M.left - M.right) * ((+t - t0) / (t1 - t0 || 1));
  for (let i = 0; i <= 4; i++) {
    const t = new Date(t0 + ((t1 - t0) * i) / 4);
    el("text", { x: x(t), y: H - 12, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, svg)
      .textContent = timeLabel(t);
  }
  series.forEach((s) => {
    let d = "", pen = false;
    for (const [t, v] of s.points) {
      if (v === null) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    const path = el("path", { d, fill: "none", stroke: s.color, "stroke-width": s.dashed ? 1.5 : 2 }, svg);
    if (s.dashed) path.setAttribute("stroke-dasharray", "6 4");
    if (s.points.length <= 400 && !s.dashed) {
      for (const [t, v] of s.points) {
        if (v === null) continue;
        const dot = el("circle", { cx: x(t), cy: y(v), r: 2.2, fill: s.color }, svg);
        el("title", {}, dot).textContent = `${s.name}: ${fmtNum(v)} at ${timeLabel(t)}`;
      }
    }
  });
  legend(container, series);
}

// categories: labels; series: [{name, color, values: [number|null]}]
export function barChart(container, { categories, series, label, stacked }) {
  const totals = categories.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  const all = stacked ? totals : series.flatMap((s) => s.values.filter((v) => v !== null));
  if (!categories.length || !all.length || all.every((v) => !v)) {
    container.innerHTML = '<p class="empty">No data in this range.</p>';
    return;
  }
  const { svg, y } = frame(container, label, 0, Math.max(...all));
  const band = (W - M.left - M.right) / categories.length;
  const inner = band * 0.72;
  const every = Math.ceil(categories.length / 10);
  categories.forEach((c, i) => {
    const x0 = M.left + band * i + (band - inner) / 2;
    if (i % every === 0) {
      el("text", { x: x0 + inner / 2, y: H - 12, "text-anchor": "middle" }, svg).textContent = c;
    }
    let base = 0;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (v === null || v === undefined) return;
      const w = stacked ? inner : inner / series.length;
      const x = stacked ? x0 : x0 + w * k;
      const top = stacked ? base + v : v;
      const rect = el("rect", { x, width: Math.max(w - 1, 1), y: y(top), height: Math.max(y(stacked ? base : 0) - y(top), 0),
        fill: s.color }, svg);
      el("title", {}, rect).textContent = `${c} · ${s.name}: ${fmtNum(v)}`;
      if (stacked) base += v;
    });
  });
  legend(container, series);
}
