/**
 * Dependency-free line / scatter charts as SVG strings (ROC curves, faithfulness vs circuit
 * size): linear or log x axis, optional staircase drawing (right, then up: ACDC's pessimistic
 * curve), markers with `<title>` tooltips, a legend, an optional y = x diagonal. Inline SVG only,
 * so pages stay self-contained and work offline.
 */
import { escapeXml } from '../report/heatmap.js';
import { fmtNum } from '../util/format.js';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color?: string;
  /** draw as a staircase: from (x0, y0) right to (x1, y0), then up to (x1, y1) */
  step?: boolean;
  /** connect the points (default true) */
  line?: boolean;
  markers?: boolean;
  dashed?: boolean;
  /** tooltip per point (default: name: (x, y)) */
  labels?: readonly string[];
}

export interface ChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  xLog?: boolean;
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** draw y = x (ROC chance line) */
  diagonal?: boolean;
  /** a horizontal reference line, e.g. faithfulness 1 */
  hline?: number;
  width?: number;
  height?: number;
  /** legend corner (default bottom-right, where ROC and faithfulness curves leave room) */
  legend?: 'top-left' | 'bottom-right';
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const fmtTick = (v: number) => fmtNum(v, 3);

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** An SVG line chart (see ChartOptions). Non-finite points are skipped. */
export function lineChartSvg(o: ChartOptions): string {
  const W = o.width ?? 480, H = o.height ?? 340;
  const m = { l: 56, r: 16, t: o.subtitle ? 46 : 32, b: 46 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.xLog || x > 0));
  const ext = (vals: number[], fallback: [number, number]): [number, number] => {
    if (vals.length === 0) return fallback;
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    return [lo, hi];
  };
  let [x0, x1] = o.xDomain ?? ext(pts.map((p) => p[0]), [0, 1]);
  let [y0, y1] = o.yDomain ?? ext(pts.map((p) => p[1]), [0, 1]);
  if (!o.yDomain) { const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
  if (o.hline !== undefined && !o.yDomain) { y0 = Math.min(y0, o.hline); y1 = Math.max(y1, o.hline); }
  if (o.xLog) {
    x0 = Math.max(x0, 1e-12); x1 = Math.max(x1, x0 * 10);
    x0 = 10 ** Math.floor(Math.log10(x0)); x1 = 10 ** Math.ceil(Math.log10(x1) - 1e-9);
  }
  const sx = (x: number) => m.l + (o.xLog ? (Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) : (x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const clampY = (y: number) => Math.max(m.t, Math.min(m.t + ph, sy(y)));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11" class="chart">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  if (o.subtitle) parts.push(`<text x="${W / 2}" y="32" text-anchor="middle" fill="#555">${escapeXml(o.subtitle)}</text>`);
  // grid and ticks
  const xt = o.xLog ? Array.from({ length: Math.round(Math.log10(x1 / x0)) + 1 }, (_, i) => x0 * 10 ** i) : niceTicks(x0, x1);
  for (const t of xt) {
    const x = sx(t);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${m.t}" x2="${x.toFixed(1)}" y2="${m.t + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${m.t + ph + 14}" text-anchor="middle" fill="#444">${fmtTick(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t);
    parts.push(`<line x1="${m.l}" y1="${y.toFixed(1)}" x2="${m.l + pw}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(y + 3.5).toFixed(1)}" text-anchor="end" fill="#444">${fmtTick(t)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  if (o.diagonal) {
    const lo = Math.max(x0, y0), hi = Math.min(x1, y1);
    if (hi > lo) parts.push(`<line x1="${sx(lo).toFixed(1)}" y1="${sy(lo).toFixed(1)}" x2="${sx(hi).toFixed(1)}" y2="${sy(hi).toFixed(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`);
  }
  if (o.hline !== undefined) parts.push(`<line x1="${m.l}" y1="${sy(o.hline).toFixed(1)}" x2="${m.l + pw}" y2="${sy(o.hline).toFixed(1)}" stroke="#888" stroke-dasharray="2 3"/>`);
  o.series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    const ok = s.points.map((p, j) => [p[0], p[1], j] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.xLog || x > 0));
    if (s.line !== false && ok.length > 1) {
      const d: string[] = [];
      ok.forEach(([x, y], j) => {
        const X = sx(x).toFixed(1), Y = clampY(y).toFixed(1);
        if (j === 0) d.push(`M${X},${Y}`);
        else if (s.step) d.push(`H${X}`, `V${Y}`);
        else d.push(`L${X},${Y}`);
      });
      parts.push(`<path d="${d.join(' ')}" fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    }
    if (s.markers !== false) {
      for (const [x, y, j] of ok) {
        const tip = s.labels?.[j] ?? `${s.name}: (${fmtTick(x)}, ${fmtTick(y)})`;
        parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${clampY(y).toFixed(1)}" r="3" fill="${c}"><title>${escapeXml(tip)}</title></circle>`);
      }
    }
  });
  // legend
  const lw = Math.max(0, ...o.series.map((s) => s.name.length)) * 6.2 + 36;
  const br = (o.legend ?? 'bottom-right') === 'bottom-right';
  const lx = br ? m.l + pw - lw : m.l + 4;
  const ly = br ? m.t + ph - 8 - o.series.length * 14 : m.t + 4;
  if (o.series.length > 0) parts.push(`<rect x="${lx.toFixed(1)}" y="${ly}" width="${lw.toFixed(1)}" height="${o.series.length * 14 + 6}" fill="#fff" fill-opacity="0.85" stroke="#ddd"/>`);
  o.series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    const y = ly + 14 + i * 14;
    parts.push(`<line x1="${(lx + 6).toFixed(1)}" y1="${y - 4}" x2="${(lx + 24).toFixed(1)}" y2="${y - 4}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<text x="${(lx + 28).toFixed(1)}" y="${y}" fill="#222">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
