/**
 * HTML for evaluations: sections for the circuit report (`circuitHtml(file, sections)`), the
 * sweep page and the comparison page. Faithfulness vs circuit size and ROC curves are
 * ./plot.ts charts; the overlay draws the union of two edge sets on the layered layout of the
 * circuit report (shared edges, edges only in the found circuit, edges only in the reference).
 * Inline SVG and CSS only: the pages work offline.
 */
import { receiverNode, splitEdge } from '../graph/names.js';
import { circuitNodes } from '../graph/circuit-file.js';
import { escapeXml } from '../report/heatmap.js';
import { fmtNum, fmtThreshold, KL_ZERO } from '../util/format.js';
import { comparisonValue, sideLine, type Comparison } from './compare.js';
import { faithRatio, minimalityRelative, type Evaluation } from './evaluate.js';
import { lineChartSvg, type Series } from './plot.js';
import type { ModelShape } from './reference.js';
import type { SweepResult } from './sweep.js';

const fmt = (x: number | null | undefined, sig = 4): string => fmtNum(x, sig);

const table = (head: string[], rows: (string | number | null)[][]) =>
  `<table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' || c === null ? fmt(c) : escapeXml(c)}</td>`).join('')}</tr>`).join('')}</table>`;

export const OVERLAY_COLOURS = { both: '#2a9d3a', found: '#e07b00', reference: '#7a7a7a' } as const;

/**
 * The union of `found` and `reference` on the layered layout: shared edges green, found-only
 * orange, reference-only grey dashed. Labels name the two sides (default found / reference).
 */
export function overlaySvg(shape: ModelShape, found: ReadonlySet<string>, reference: ReadonlySet<string>, labels: [string, string] = ['found only', 'reference only']): string {
  const { nLayers, nHeads, attnOnly } = shape;
  const cols = nHeads + (attnOnly ? 0 : 1);
  const cw = 64, rh = 70, padX = 40, padY = 30, legendH = 22;
  const width = padX * 2 + Math.max(cols, 6) * cw;
  const height = padY * 2 + (nLayers + 2) * rh + legendH;
  const rowY = (r: number) => height - padY - r * rh - rh / 2;
  const pos = (n: string): [number, number] => {
    if (n === 'tok') return [padX + cw / 2, rowY(0)];
    if (n === 'pos') return [padX + cw * 1.5 + 10, rowY(0)];
    if (n === 'input') return [padX + (cols / 2) * cw, rowY(0)];
    if (n === 'logits') return [padX + (cols / 2) * cw, rowY(nLayers + 1)];
    const h = /^a(\d+)\.h(\d+)$/.exec(n);
    if (h) return [padX + Number(h[2]) * cw + cw / 2, rowY(Number(h[1]) + 1)];
    const m = /^m(\d+)$/.exec(n);
    if (m) return [padX + nHeads * cw + cw / 2, rowY(Number(m[1]) + 1) - rh * 0.35];
    return [padX, rowY(0)];
  };
  const all = new Set([...found, ...reference]);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="10" class="overlay">`];
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  const legend: [string, string, boolean][] = [['both', OVERLAY_COLOURS.both, false], [labels[0], OVERLAY_COLOURS.found, false], [labels[1], OVERLAY_COLOURS.reference, true]];
  let lx = 8;
  legend.forEach(([t, c, dash]) => {
    const x = lx;
    lx += 34 + t.length * 6;
    parts.push(`<line x1="${x}" y1="14" x2="${x + 20}" y2="14" stroke="${c}" stroke-width="2.5"${dash ? ' stroke-dasharray="5 3"' : ''}/><text x="${x + 25}" y="18">${escapeXml(t)}</text>`);
  });
  for (let l = 0; l < nLayers; l++) parts.push(`<text x="4" y="${rowY(l + 1) + 3}" fill="#888">L${l}</text>`);
  for (const e of [...all].sort()) {
    const [s, r] = splitEdge(e);
    const inF = found.has(e), inR = reference.has(e);
    const c = inF && inR ? OVERLAY_COLOURS.both : inF ? OVERLAY_COLOURS.found : OVERLAY_COLOURS.reference;
    const [x1, y1] = pos(s), [x2, y2] = pos(receiverNode(r));
    const q = /<([qkv])>$/.exec(r);
    const off = q ? { q: -12, k: 0, v: 12 }[q[1] as 'q' | 'k' | 'v'] : 0;
    const dy = Math.max(20, (y1 - y2) / 2);
    parts.push(`<path d="M${x1},${y1 - 10} C${x1},${y1 - dy} ${x2 + off},${y2 + dy} ${x2 + off},${y2 + 10}" fill="none" stroke="${c}" stroke-width="${inF && inR ? 2 : 1.5}" stroke-opacity="0.8"${!inF ? ' stroke-dasharray="5 3"' : ''}><title>${escapeXml(e)}: ${inF && inR ? 'both' : inF ? labels[0] : labels[1]}</title></path>`);
  }
  for (const n of circuitNodes(all)) {
    const [x, y] = pos(n);
    const fill = n.startsWith('a') ? '#dbe9f6' : n.startsWith('m') ? '#fde4c8' : n === 'logits' ? '#e5e5e5' : '#e2f0d9';
    parts.push(`<g><rect x="${x - 26}" y="${y - 10}" width="52" height="20" rx="5" fill="${fill}" stroke="#333"/><text x="${x}" y="${y + 3.5}" text-anchor="middle">${escapeXml(n)}</text><title>${escapeXml(n)}</title></g>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Faithfulness vs circuit size (MIB's sizes), with the circuit's own point. */
export function curveSvg(e: Evaluation): string | null {
  const c = e.curve;
  if (!c) return null;
  const own = e.faithfulness?.normalised;
  const series: Series[] = [
    { name: 'top-k by signed score', points: c.signed.axis.map((x, i) => [x, c.signed.faithfulness[i]] as const), labels: c.sizes.map((k, i) => `${k * 100}% (${c.signed.edges[i]} edges): f = ${fmt(c.signed.faithfulness[i])}`) },
    { name: 'top-k by |score|', points: c.absolute.axis.map((x, i) => [x, c.absolute.faithfulness[i]] as const), dashed: true, labels: c.sizes.map((k, i) => `${k * 100}% (${c.absolute.edges[i]} edges): f = ${fmt(c.absolute.faithfulness[i])}`) },
  ];
  if (own !== null && own !== undefined && e.circuit.edgesTotal > 0) series.push({ name: 'this circuit', points: [[Math.max(e.circuit.edges, 0.5) / e.circuit.edgesTotal, own]], line: false, color: '#000' });
  return lineChartSvg({
    title: 'Faithfulness vs circuit size', subtitle: `CPR ${fmt(c.cpr)} · CMD ${fmt(c.cmd)} · ${e.circuit.ablation} ablation`,
    xLabel: 'fraction of edges (log)', yLabel: 'normalised faithfulness', xLog: true, xDomain: [0.001, 1], hline: 1, series,
  });
}

/** ROC of the score ranking (staircase) and the circuit's own point, edge and node level. */
export function rocSvg(e: Evaluation, level: 'edge' | 'node'): string | null {
  const r = e.reference;
  if (!r) return null;
  const conf = level === 'edge' ? r.vs.edges : r.vs.nodes;
  const series: Series[] = [];
  let auc = level === 'edge' ? r.single.edge : r.single.node;
  if (r.ranking) {
    const pts = level === 'edge' ? r.ranking.edge : r.ranking.node;
    auc = level === 'edge' ? r.ranking.aucEdge : r.ranking.aucNode;
    const curve = paretoForPlot(pts.map((p) => [p.fpr, p.tpr] as const));
    series.push({ name: `score ranking (AUC ${fmt(auc, 3)})`, points: curve, step: true, markers: false });
    series.push({ name: 'ranking points', points: pts.map((p) => [p.fpr, p.tpr] as const), line: false, labels: pts.map((p) => `${p.label ?? ''}: FPR ${fmt(p.fpr)}, TPR ${fmt(p.tpr)}`), color: '#9ecae1' });
  } else {
    series.push({ name: `pessimistic staircase (AUC ${fmt(auc, 3)})`, points: paretoForPlot([[conf.fpr ?? 0, conf.tpr ?? 0]]), step: true, markers: false });
  }
  series.push({ name: 'this circuit', points: [[conf.fpr ?? 0, conf.tpr ?? 0]], line: false, color: '#d62728' });
  return lineChartSvg({
    title: `${level === 'edge' ? 'Edge' : 'Node'}-level ROC vs ${r.name}`, subtitle: `pessimistic AUC ${fmt(auc, 3)}${r.merged ? ' · tok/pos merged' : ''}`,
    xLabel: 'false positive rate', yLabel: 'true positive rate', xDomain: [0, 1], yDomain: [0, 1], diagonal: true, series,
  });
}

/** The Pareto staircase's corner points (with (0,0) and (1,1)), for drawing. */
function paretoForPlot(points: readonly (readonly [number, number])[]): [number, number][] {
  const all: [number, number][] = [[0, 0], ...points.map((p) => [p[0], p[1]] as [number, number]), [1, 1]];
  const kept = all.filter((p) => !all.some((q) => q[0] < p[0] && q[1] > p[1]));
  kept.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return kept;
}

/** The evaluation sections of the circuit report. */
export function evaluationSections(e: Evaluation, shape: ModelShape, found: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const figs: string[] = [];
  const f = e.faithfulness;
  const parts: string[] = ['<section id="evaluation"><h2>Evaluation</h2>'];
  if (f) {
    parts.push(`<p>Task metric <code>${escapeXml(f.metric)}</code> on ${e.batch.n} prompts (seed ${e.batch.seed}), ${escapeXml(f.ablation)} ablation of the edges outside each circuit.</p>`);
    parts.push(table(['', 'value'], [
      ['F(M): full model', f.full], ['F(empty): every edge ablated', f.empty], ['F(C): the circuit', f.circuit],
      ['F(C) / F(M)', faithRatio(f)], ['normalised (F(C) - F(empty)) / (F(M) - F(empty))', f.normalised], ['KL(clean || C)', fmtNum(f.kl, 4, KL_ZERO)],
      ...f.extras.map((x) => [`${x.name}: model / empty / circuit`, `${fmt(x.full)} / ${fmt(x.empty)} / ${fmt(x.circuit)}`] as [string, string]),
    ]));
  }
  const curve = curveSvg(e);
  if (curve) figs.push(`<figure id="faithfulness-curve">${curve}<figcaption style="max-width:480px">${escapeXml(`MIB's circuit sizes; edges ranked by ${e.curve!.ranking}; each circuit pruned of dangling nodes.`)}</figcaption></figure>`);
  for (const level of ['edge', 'node'] as const) {
    const s = rocSvg(e, level);
    if (s) figs.push(`<figure id="roc-${level}">${s}</figure>`);
  }
  if (figs.length) parts.push(`<div class="grid">${figs.join('\n')}</div>`);
  const r = e.reference;
  if (r) {
    parts.push(`<h3>Reference: ${escapeXml(r.name)}</h3><p style="font-size:12px;color:#555">${escapeXml(r.source)}</p>`);
    parts.push(table(['level', 'TP', 'FP', 'FN', 'TN', 'TPR', 'FPR', 'precision', 'single-point AUC', 'ranking AUC'], [
      ['edges', r.vs.edges.tp, r.vs.edges.fp, r.vs.edges.fn, r.vs.edges.tn, r.vs.edges.tpr, r.vs.edges.fpr, r.vs.edges.precision, r.single.edge, r.ranking?.aucEdge ?? null],
      ['nodes', r.vs.nodes.tp, r.vs.nodes.fp, r.vs.nodes.fn, r.vs.nodes.tn, r.vs.nodes.tpr, r.vs.nodes.fpr, r.vs.nodes.precision, r.single.node, r.ranking?.aucNode ?? null],
    ]));
    const refSet = new Set([...r.overlay.both, ...r.overlay.referenceOnly]);
    const foundSet = r.merged ? new Set([...r.overlay.both, ...r.overlay.foundOnly]) : found;
    parts.push(`<figure id="overlay">${overlaySvg(shape, foundSet, refSet)}<figcaption style="max-width:480px">The reference circuit overlaid on the found one${r.merged ? ' (tok/pos merged into input)' : ''}: ${r.overlay.both.length} shared, ${r.overlay.foundOnly.length} found only, ${r.overlay.referenceOnly.length} missed.</figcaption></figure>`);
  }
  if (e.completeness) {
    const c = e.completeness;
    parts.push('<h3>Completeness</h3><p>|F(C \\ K) − F(M \\ K)| for subsets K of the circuit\'s heads and MLPs; small for every K means the circuit is complete.</p>');
    parts.push(table(['K kind', 'K', 'F(C \\ K)', 'F(M \\ K)', 'score'], [...c.candidates].sort((a, b) => b.score - a.score).slice(0, 12).map((k) => [k.kind, `{${k.removed.join(', ')}}`, k.circuit, k.model, k.score])));
    parts.push(`<p>Worst: ${fmt(c.worst.score)} (normalised by |F(M) − F(empty)|: ${fmt(c.worstNormalised)}).</p>`);
  }
  if (e.minimality) {
    parts.push('<h3>Minimality</h3><p>For each node v, the largest |F(C \\ (K ∪ {v})) − F(C \\ K)| over the subsets K tried.</p>');
    parts.push(table(['node', 'K', 'F(C \\ K)', 'F(C \\ (K ∪ v))', 'drop', 'relative to |F(C)|', 'normalised'], e.minimality.nodes.map((m) => [m.node, `{${m.removed.join(', ')}}`, m.withNode, m.withoutNode, m.drop, minimalityRelative(e.minimality!, m), m.normalised])));
  }
  parts.push('</section>');
  out.push(parts.join('\n'));
  return out;
}

const PAGE_CSS = `body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
.grid { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; } figure { margin: 12px 0; }
figcaption { color: #555; font-size: 12px; max-width: 520px; }`;

function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title><style>${PAGE_CSS}</style></head><body>\n<h1>${escapeXml(title)}</h1>\n${body}\n</body></html>\n`;
}

/** The sweep's charts as standalone SVGs: roc-edge, roc-node (with a reference), faithfulness-edges, mib-curve. */
export function sweepFigures(s: SweepResult): { id: string; svg: string }[] {
  const figs: { id: string; svg: string }[] = [];
  const withRoc = s.points.filter((p) => p.fpr !== null);
  const lab = (p: SweepResult['points'][number]) => `${p.threshold !== null ? `τ ${fmtThreshold(p.threshold)}` : `top ${fmt(p.topN)}`}: ${p.edges} edges`;
  if (s.auc) {
    for (const level of ['edge', 'node'] as const) {
      // a rate without negatives (or positives) is null; rocPoint counts it as 0, and so does the plot
      const pts = withRoc.map((p) => [(level === 'edge' ? p.fpr : p.nodeFpr) ?? 0, (level === 'edge' ? p.tpr : p.nodeTpr) ?? 0] as const);
      const noNeg = withRoc.every((p) => (level === 'edge' ? p.fpr : p.nodeFpr) === null);
      const auc = level === 'edge' ? s.auc.edge : s.auc.node;
      figs.push({ id: `roc-${level}`, svg: lineChartSvg({
        title: `${level === 'edge' ? 'Edge' : 'Node'}-level ROC: ${s.method} on ${s.task}`, subtitle: `pessimistic AUC ${fmt(auc, 3)} vs ${s.reference!.name}${noNeg ? ' · no negatives: FPR undefined, drawn as 0' : ''}`,
        xLabel: 'false positive rate', yLabel: 'true positive rate', xDomain: [0, 1], yDomain: [0, 1], diagonal: true,
        series: [
          { name: `Pareto staircase (AUC ${fmt(auc, 3)})`, points: paretoForPlot(pts), step: true, markers: false },
          { name: 'sweep points', points: pts, line: false, labels: withRoc.map((p) => `${lab(p)}; FPR ${fmt(level === 'edge' ? p.fpr : p.nodeFpr)}, TPR ${fmt(level === 'edge' ? p.tpr : p.nodeTpr)}`) },
        ],
      }) });
    }
  }
  const fpts = s.points.filter((p) => p.faithfulness !== null && p.edges > 0).sort((a, b) => a.edges - b.edges);
  figs.push({ id: 'faithfulness-edges', svg: lineChartSvg({
    title: `Faithfulness vs edges: ${s.method} on ${s.task}`, subtitle: `${s.ablation} ablation · metric ${s.metric}`,
    xLabel: 'edges in the circuit (log)', yLabel: 'normalised faithfulness', xLog: true, hline: 1,
    series: [{ name: s.method, points: fpts.map((p) => [p.edges, p.faithfulness!] as const), labels: fpts.map((p) => `${lab(p)}: f = ${fmt(p.faithfulness)}`) }],
  }) });
  if (s.mib) {
    const m = s.mib;
    const series: Series[] = [{ name: m.from === 'scores' ? 'signed score' : 'sweep circuits', points: m.axisSigned.map((x, i) => [x, m.signed[i]] as const) }];
    if (m.from === 'scores') series.push({ name: '|score|', points: m.axisAbsolute.map((x, i) => [x, m.absolute[i]] as const), dashed: true });
    figs.push({ id: 'mib-curve', svg: lineChartSvg({ title: 'MIB faithfulness curve', subtitle: `CPR ${fmt(m.cpr)} · CMD ${fmt(m.cmd)}`, xLabel: 'fraction of edges (log)', yLabel: 'normalised faithfulness', xLog: true, xDomain: [0.001, 1], hline: 1, series }) });
  }
  return figs;
}

/** The sweep page: ROC (edge and node), faithfulness vs edges, the MIB curve and the points. */
export function sweepHtml(s: SweepResult): string {
  const figs = sweepFigures(s).map((f) => `<figure id="${f.id}">${f.svg}</figure>`);
  const facts = table(['', ''], [
    ['task / model', `${s.task} / ${s.model}`], ['method / objective', `${s.method} / ${s.objective}`], ['ablation', s.ablation],
    ['prompts (n) / seed', `${s.n} / ${s.seed}`], ['edges in the graph', s.edgesTotal], ['m(M) / m(empty)', `${fmt(s.full)} / ${fmt(s.empty)}`],
    ['reference', s.reference ? `${s.reference.name} (${s.reference.edges} edges${s.reference.merged ? ', tok/pos merged' : ''})` : 'none'],
    ['edge AUC / node AUC', s.auc ? `${fmt(s.auc.edge)} / ${fmt(s.auc.node)}` : '—'], ['CPR / CMD', s.mib ? `${fmt(s.mib.cpr)} / ${fmt(s.mib.cmd)}` : '—'],
    ['seconds', s.seconds], ['backend', s.backend],
  ]);
  const rows = table(['threshold', 'top-n', 'edges', 'metric', 'faithfulness', 'KL', 'TPR', 'FPR', 'node TPR', 'node FPR'],
    s.points.map((p) => [fmtThreshold(p.threshold), p.topN, p.edges, p.metric, p.faithfulness, fmtNum(p.kl, 4, KL_ZERO), p.tpr, p.fpr, p.nodeTpr, p.nodeFpr]));
  return page(`Sweep: ${s.method} on ${s.task} (${s.model})`, `${facts}\n<div class="grid">${figs.join('\n')}</div>\n<h2>Points</h2>\n${rows}`);
}

/** The comparison page: overlay of A and B, edge lists, metrics side by side. */
export function comparisonHtml(c: Comparison, shape: ModelShape | null): string {
  const a = new Set([...c.edges.shared, ...c.edges.onlyA]), b = new Set([...c.edges.shared, ...c.edges.onlyB]);
  const fig = shape ? `<figure id="overlay">${overlaySvg(shape, a, b, ['only in A', 'only in B'])}</figure>` : '';
  const list = (t: string, xs: string[]) => `<h2>${escapeXml(t)} (${xs.length})</h2><p style="font-size:12px">${xs.map(escapeXml).join(', ') || '—'}</p>`;
  const metrics = table(['metric', 'A', 'B'], c.metrics.map(([k, x, y]) => [k, comparisonValue(k, x), comparisonValue(k, y)]));
  const warnings = (c.warnings ?? []).map((w) => `<p class="warning" style="color:#b00;font-weight:bold">Warning: ${escapeXml(w)}</p>`).join('\n');
  return page(`Compare: ${c.a.name} vs ${c.b.name}`,
    `${warnings}<p>A: ${escapeXml(sideLine(c.a))} · B: ${escapeXml(sideLine(c.b))}${c.merged ? ' · tok/pos merged into input' : ''} · edge Jaccard ${fmt(c.edges.jaccard)} · node Jaccard ${fmt(c.nodes.jaccard)}</p>
<div class="grid">${fig}<div>${metrics}</div></div>
${list('Only in A', c.edges.onlyA)}${list('Only in B', c.edges.onlyB)}${list('Shared', c.edges.shared)}`);
}
