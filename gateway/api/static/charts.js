// Time charts with the vendored uPlot: one chart per quantity, vertical marker lines for alerts
// and session boundaries.
"use strict";

// red is left to the alert markers
const PALETTE = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41"];

// Seconds since the epoch, whether the API gave seconds or milliseconds.
function seconds(ts) {
  return ts > 1e11 ? ts / 1000 : ts;
}

function markerPlugin(markers) {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.lineWidth = 2 * devicePixelRatio;
          for (const m of markers) {
            const x = u.valToPos(m.ts, "x", true);
            if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) continue;
            ctx.strokeStyle = m.color;
            ctx.setLineDash(m.dash ? [6, 4] : []);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

// A chart of `lines` ([{label, unit, points: [[ts, value], ...]}]) in `parent`; null without data.
function timeChart(parent, title, lines, markers = [], range = null) {
  const box = document.createElement("div");
  box.className = "chart";
  const h = document.createElement("h3");
  h.textContent = title;
  box.appendChild(h);
  parent.appendChild(box);
  const tables = lines
    .filter((l) => l.points.length > 0)
    .map((l) => [l.points.map((p) => seconds(p[0])), l.points.map((p) => p[1])]);
  if (tables.length === 0) {
    const p = document.createElement("p");
    p.className = "muted no-data";
    p.textContent = t("port.no_data");
    box.appendChild(p);
    return null;
  }
  const shown = lines.filter((l) => l.points.length > 0);
  const units = [...new Set(shown.map((l) => l.unit || "v"))];
  const data = uPlot.join(tables);
  const opts = {
    width: Math.max(320, (parent.clientWidth || document.body.clientWidth - 40) - 24),
    height: 240,
    scales: { x: range ? { time: true, range: () => range } : { time: true } },
    series: [
      { label: t("col.time"), value: (_u, v) => (v === null ? "–" : fmtTime(v)) },
      ...shown.map((l, i) => ({
        label: l.label,
        stroke: l.color || PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: true,
        scale: l.unit || "v",
      })),
    ],
    axes: [
      { space: 70, values: (u, splits) => {
        const short = u.scales.x.max - u.scales.x.min < 600; // seconds matter in a short window
        return splits.map((v) => fmtTime(v).slice(11, short ? 19 : 16));
      } },
      ...units.map((u, i) => ({ scale: u, label: u, side: i === 0 ? 3 : 1, grid: { show: i === 0 } })),
    ],
    plugins: [markerPlugin(markers)],
  };
  return new uPlot(opts, data, box);
}
