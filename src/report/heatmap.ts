/**
 * Dependency-free heatmaps: a matrix with row and column labels becomes an SVG string with a
 * colour scale, a title, a colour bar, and each cell's value in a `<title>` tooltip. Two scales:
 * diverging (blue below the centre, white at it, red above; symmetric around the centre, 0 by
 * default) for signed quantities, and sequential (white at the domain's low end to dark red at
 * its high end, [0, 1] for attention weights and head scores) for quantities with a natural
 * zero. Heatmaps whose values are comparable (one metric on one page) share one scale: pass
 * `symmetricRange(all their matrices)` as each one's `range`. The root `<svg>` carries the scale
 * as `data-scale` and `data-domain="lo hi"`. `htmlPage` wraps one or more SVGs into a
 * self-contained HTML page (inline CSS, no scripts, no network). Nothing here knows about
 * models; any command can reuse it.
 */
import { fmtNum } from '../util/format.js';

export type HeatmapScale = 'diverging' | 'sequential';

export interface HeatmapOptions {
  values: readonly (readonly (number | null)[])[];
  rowLabels: readonly string[];
  colLabels: readonly string[];
  title: string;
  subtitle?: string;
  /** axis titles */
  xLabel?: string;
  yLabel?: string;
  /** diverging (default): signed values around `center`; sequential: `domain[0]` white to `domain[1]` dark red */
  scale?: HeatmapScale;
  /** diverging: the value drawn white (default 0) */
  center?: number;
  /** diverging: half-width of the colour scale around the centre (default: the largest |value - center|, at least 1e-12); several heatmaps of one quantity share `symmetricRange` of all of them */
  range?: number;
  /** sequential: the values drawn white and darkest (default [min(0, smallest value), largest value]) */
  domain?: readonly [number, number];
  /** cell size in pixels (default: fits ~800 px, between 10 and 40) */
  cell?: number;
  /** tooltip text of cell (i, j) (default: `row, col: value`) */
  tooltip?: (i: number, j: number, value: number | null) => string;
  /** number formatting of tooltips and the colour bar (default: fmtNum, 4 significant digits) */
  format?: (v: number) => string;
  /** caption of the colour bar */
  valueLabel?: string;
}

/** Escape text for XML / HTML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Make whitespace in token labels visible (GPT-2 tokens start with a space). */
function showLabel(s: string): string {
  return s.replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

// ColorBrewer RdBu, 5 stops from -1 to +1.
const STOPS: [number, number, number][] = [
  [33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43],
];

/** Colour of t in [-1, 1] (clamped) on the diverging scale, as `#rrggbb`. */
export function divergingColor(t: number): string {
  const x = (Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0)) + 1) * 2; // [0, 4]
  const i = Math.min(3, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

// ColorBrewer Reds, white at the low end, 5 stops from 0 to 1.
const SEQ_STOPS: [number, number, number][] = [
  [255, 255, 255], [252, 187, 161], [251, 106, 74], [203, 24, 29], [103, 0, 13],
];

/** Colour of t in [0, 1] (clamped) on the sequential scale (white to dark red), as `#rrggbb`. */
export function sequentialColor(t: number): string {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * 4; // [0, 4]
  const i = Math.min(3, Math.floor(x));
  const f = x - i;
  const c = SEQ_STOPS[i].map((a, k) => Math.round(a + (SEQ_STOPS[i + 1][k] - a) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

type Matrix = readonly (readonly (number | null)[])[];

/** The largest |value - center| over several matrices (at least 1e-12): the shared `range` of heatmaps of one quantity. */
export function symmetricRange(matrices: readonly Matrix[], center = 0): number {
  let range = 0;
  for (const m of matrices) for (const r of m) for (const v of r) if (v !== null && Number.isFinite(v)) range = Math.max(range, Math.abs(v - center));
  return Math.max(range, 1e-12);
}

/** The colour scale a heatmap draws with: its kind and the values at the bottom and top of the colour bar. */
export interface ScaleDomain {
  scale: HeatmapScale;
  lo: number;
  hi: number;
  /** diverging: the white value; sequential: lo */
  center: number;
}

/** The scale `heatmapSvg(o)` uses (the options' explicit range / domain, or the data's). */
export function heatmapDomain(o: Pick<HeatmapOptions, 'values' | 'scale' | 'center' | 'range' | 'domain'>): ScaleDomain {
  if (o.scale === 'sequential') {
    let lo = 0, hi = -Infinity;
    if (o.domain) [lo, hi] = o.domain;
    else for (const r of o.values) for (const v of r) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!(hi > lo)) hi = lo + 1e-12;
    return { scale: 'sequential', lo, hi, center: lo };
  }
  const center = o.center ?? 0;
  const range = o.range !== undefined ? Math.max(o.range, 1e-12) : symmetricRange([o.values], center);
  return { scale: 'diverging', lo: center - range, hi: center + range, center };
}

/** Colour of a finite value v on scale d (values outside the domain take its end colours). */
function colorOf(d: ScaleDomain, v: number): string {
  return d.scale === 'sequential' ? sequentialColor((v - d.lo) / (d.hi - d.lo)) : divergingColor((v - d.center) / ((d.hi - d.lo) / 2));
}

const defaultFormat = (v: number) => fmtNum(v);

/** Approximate text width in px for the sans-serif font at `size`. */
const textWidth = (s: string, size: number) => s.length * size * 0.6;

export function heatmapSvg(o: HeatmapOptions): string {
  const rows = o.rowLabels.length, cols = o.colLabels.length;
  if (o.values.length !== rows || o.values.some((r) => r.length !== cols)) {
    throw new Error(`heatmap: values must be ${rows} x ${cols} (the label counts), got ${o.values.length} x ${o.values[0]?.length ?? 0}`);
  }
  const fmt = o.format ?? defaultFormat;
  const dom = heatmapDomain(o);
  const cell = o.cell ?? Math.max(10, Math.min(40, Math.floor(800 / Math.max(cols, 1)), Math.floor(600 / Math.max(rows, 1))));
  const fs = 11;
  const rowLab = o.rowLabels.map(showLabel), colLab = o.colLabels.map(showLabel);
  const colLabW = Math.max(0, ...colLab.map((s) => textWidth(s, fs)));
  // Room for the row labels, and for the first column label, which leans left of the grid.
  const left = Math.max(12 + (o.yLabel ? 18 : 0) + Math.max(0, ...rowLab.map((s) => textWidth(s, fs))), 8 + colLabW * Math.SQRT1_2 - cell / 2);
  const top = 30 + (o.subtitle ? 18 : 0);
  const gridW = cols * cell, gridH = rows * cell;
  // Column labels below the grid, rotated -45 degrees.
  const colSpace = 10 + colLabW * Math.SQRT1_2 + fs;
  const bottom = colSpace + (o.xLabel ? 20 : 0) + 8;
  const barX = left + gridW + 24, barW = 14, barH = Math.max(gridH, 80, o.valueLabel ? textWidth(o.valueLabel, fs) + 10 : 0);
  const barLabels = [dom.hi, dom.scale === 'sequential' ? (dom.hi + dom.lo) / 2 : dom.center, dom.lo].map(fmt);
  const right = barW + 14 + Math.max(...barLabels.map((s) => textWidth(s, fs))) + (o.valueLabel ? 20 : 0) + 8;
  const width = Math.ceil(Math.max(barX + right, left + textWidth(o.title, 14) + 10, left + textWidth(o.subtitle ?? '', fs) + 10));
  const height = Math.ceil(Math.max(top + gridH + bottom, top + barH + 12));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="${fs}" data-scale="${dom.scale}" data-domain="${dom.lo} ${dom.hi}">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${left}" y="34" fill="#555555">${escapeXml(o.subtitle)}</text>`);
  // Cells.
  out.push('<g stroke="#ffffff" stroke-width="0.5">');
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = o.values[i][j];
      const fill = v === null || !Number.isFinite(v) ? '#d9d9d9' : colorOf(dom, v);
      const tip = o.tooltip ? o.tooltip(i, j, v) : `${o.rowLabels[i]}, ${o.colLabels[j]}: ${v === null ? 'n/a' : fmt(v)}`;
      out.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}"><title>${escapeXml(tip)}</title></rect>`);
    }
  }
  out.push('</g>');
  out.push(`<rect x="${left}" y="${top}" width="${gridW}" height="${gridH}" fill="none" stroke="#888888" stroke-width="0.5"/>`);
  // Row labels.
  for (let i = 0; i < rows; i++) {
    out.push(`<text x="${left - 5}" y="${top + (i + 0.5) * cell}" text-anchor="end" dominant-baseline="middle" xml:space="preserve" style="white-space:pre">${escapeXml(rowLab[i])}</text>`);
  }
  // Column labels.
  const cy = top + gridH + 6;
  for (let j = 0; j < cols; j++) {
    const cx = left + (j + 0.5) * cell;
    out.push(`<text x="${cx}" y="${cy}" text-anchor="end" dominant-baseline="middle" transform="rotate(-45 ${cx} ${cy})" xml:space="preserve" style="white-space:pre">${escapeXml(colLab[j])}</text>`);
  }
  if (o.xLabel) out.push(`<text x="${left + gridW / 2}" y="${top + gridH + colSpace + 14}" text-anchor="middle" fill="#333333">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) {
    const yx = 12, yy = top + gridH / 2;
    out.push(`<text x="${yx}" y="${yy}" text-anchor="middle" transform="rotate(-90 ${yx} ${yy})" fill="#333333">${escapeXml(o.yLabel)}</text>`);
  }
  // Colour bar: 64 bands from the top of the domain (top) to its bottom.
  const n = 64;
  out.push('<g>');
  for (let k = 0; k < n; k++) {
    const t = 1 - (k + 0.5) / n; // fraction of the way from lo to hi
    const fill = dom.scale === 'sequential' ? sequentialColor(t) : divergingColor(2 * t - 1);
    out.push(`<rect x="${barX}" y="${(top + (k * barH) / n).toFixed(2)}" width="${barW}" height="${(barH / n + 0.5).toFixed(2)}" fill="${fill}"/>`);
  }
  out.push('</g>');
  out.push(`<rect x="${barX}" y="${top}" width="${barW}" height="${barH}" fill="none" stroke="#888888" stroke-width="0.5"/>`);
  barLabels.forEach((s, k) => {
    const y = top + (k * barH) / 2;
    out.push(`<line x1="${barX + barW}" x2="${barX + barW + 4}" y1="${y}" y2="${y}" stroke="#555555"/>`);
    out.push(`<text x="${barX + barW + 6}" y="${y}" dominant-baseline="middle">${escapeXml(s)}</text>`);
  });
  if (o.valueLabel) {
    const vx = barX + right - 10, vy = top + barH / 2;
    out.push(`<text x="${vx}" y="${vy}" text-anchor="middle" transform="rotate(90 ${vx} ${vy})" fill="#333333">${escapeXml(o.valueLabel)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

export interface HtmlFigure {
  svg: string;
  caption?: string;
}

export interface HtmlPageOptions {
  title: string;
  /** paragraphs of plain text (escaped) under the title */
  intro?: string[];
  /** a key / value table under the intro */
  facts?: [string, string | number][];
  figures: HtmlFigure[];
}

/** A self-contained HTML page: inline CSS, the SVGs inline, no scripts, no external resources. */
export function htmlPage(o: HtmlPageOptions): string {
  const parts: string[] = [];
  parts.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    `<title>${escapeXml(o.title)}</title>`,
    '<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}' +
      'figure{margin:24px 0}figcaption{color:#555;font-size:13px;margin-top:4px;max-width:900px}' +
      'table{border-collapse:collapse;font-size:13px}td{padding:2px 12px 2px 0;vertical-align:top}' +
      'td:first-child{color:#555}svg{max-width:100%;height:auto}</style>',
    '</head>', '<body>', `<h1>${escapeXml(o.title)}</h1>`);
  for (const p of o.intro ?? []) parts.push(`<p>${escapeXml(p)}</p>`);
  if (o.facts && o.facts.length > 0) {
    parts.push('<table>');
    for (const [k, v] of o.facts) parts.push(`<tr><td>${escapeXml(k)}</td><td>${escapeXml(String(v))}</td></tr>`);
    parts.push('</table>');
  }
  for (const f of o.figures) {
    parts.push('<figure>', f.svg);
    if (f.caption) parts.push(`<figcaption>${escapeXml(f.caption)}</figcaption>`);
    parts.push('</figure>');
  }
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}
