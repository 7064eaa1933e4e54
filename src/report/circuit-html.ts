/**
 * A self-contained HTML report of a circuit file: the circuit drawn as a layered graph (one row
 * per layer, heads side by side, the MLP at the row's end, input at the bottom, logits on top),
 * the metrics, and a sortable-by-eye table of edges. Inline SVG and CSS only: no scripts from
 * the network, no native dependency.
 */
import type { CircuitFile } from '../graph/circuit-file.js';
import { circuitEdgeKeys, circuitNodes } from '../graph/circuit-file.js';
import { parseReceiverKey, receiverNode, splitEdge } from '../graph/names.js';
import { QKV_COLOUR } from '../graph/serialize.js';
import { fmtNum, fmtThreshold, KL_ZERO } from '../util/format.js';
import { escapeXml } from './heatmap.js';

/** Edge colours by receiver input: the DOT writer's (QKV_COLOUR); '' for MLP / logits receivers. */
const COLOURS: Record<string, string> = { q: QKV_COLOUR.q, k: QKV_COLOUR.k, v: QKV_COLOUR.v, '': QKV_COLOUR.none };
/** Above this many edges the drawing thins its strokes and drops the q / k / v port letters. */
export const LARGE_CIRCUIT = 120;
/** Horizontal offset of a head's q, k and v end points from its centre (q left, v right). */
const PORT_DX: Record<string, number> = { q: -15, k: 0, v: 15, '': 0 };

/**
 * SVG of the circuit's nodes and edges. A head's q, k and v inputs end at their own points
 * along its bottom edge (q left, k middle, v right), each edge its own coloured path with a
 * `<title>` naming its key and score, so no edge hides another. Past LARGE_CIRCUIT edges the
 * strokes are thinner and fainter and the port letters go.
 */
export function circuitSvg(file: CircuitFile, extra?: { reference?: Set<string> }): string {
  const edges = [...circuitEdgeKeys(file)];
  const scores = new Map(file.edges.map((e) => [`${e.from}->${e.to}`, e.score ?? null]));
  const large = edges.length > LARGE_CIRCUIT;
  const maxAbs = Math.max(0, ...edges.map((e) => Math.abs(scores.get(e) ?? 0)));
  const { nLayers, nHeads, attnOnly } = file.modelConfig;
  const cols = nHeads + (attnOnly ? 0 : 1);
  const cw = 64, rh = 70, padX = 40, padY = 30;
  const width = padX * 2 + cols * cw;
  const height = padY * 2 + (nLayers + 2) * rh;
  const pos = (n: string): [number, number] => {
    const rowY = (r: number) => height - padY - r * rh - rh / 2;
    if (n === 'input' || n === 'tok' || n === 'pos') return [padX + (n === 'pos' ? 2 : n === 'tok' ? 0.5 : cols / 2 - 0.5) * cw + cw / 2, rowY(0)];
    if (n === 'logits') return [padX + (cols / 2 - 0.5) * cw + cw / 2, rowY(nLayers + 1)];
    const h = /^a(\d+)\.h(\d+)$/.exec(n);
    if (h) return [padX + Number(h[2]) * cw + cw / 2, rowY(Number(h[1]) + 1)];
    const m = /^m(\d+)$/.exec(n);
    if (m) return [padX + nHeads * cw + cw / 2, rowY(Number(m[1]) + 1) - rh * 0.35];
    return [0, 0];
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="circuit" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="10">`);
  for (let l = 0; l < nLayers; l++) {
    const y = height - padY - (l + 1) * rh - rh / 2;
    parts.push(`<text x="4" y="${y + 3}" fill="#888">L${l}</text>`);
  }
  const heads = new Set<string>();
  parts.push(`<g class="edges" fill="none">`);
  for (const e of edges) {
    const [s, r] = splitEdge(e);
    const { node, qkv } = parseReceiverKey(r);
    const port = qkv ?? '';
    if (qkv) heads.add(node);
    const [x1, y1] = pos(s), [xr, y2] = pos(node);
    const x2 = xr + PORT_DX[port];
    const score = scores.get(e) ?? null;
    const c = COLOURS[port];
    const dy = Math.max(20, (y1 - y2) / 2);
    const w = large ? 0.7 : score !== null && maxAbs > 0 ? 0.8 + 2.7 * Math.abs(score) / maxAbs : 1.3;
    const title = score === null ? e : `${e} score ${fmtNum(score)}`;
    parts.push(`<path class="edge" data-edge="${escapeXml(e)}" d="M${x1},${y1 - 10} C${x1},${y1 - dy} ${x2},${y2 + dy} ${x2},${y2 + 10}" stroke="${c}" stroke-opacity="${large ? 0.35 : 0.7}" stroke-width="${w.toFixed(2)}"><title>${escapeXml(title)}</title></path>`);
  }
  parts.push('</g>');
  const ref = extra?.reference;
  for (const n of circuitNodes(edges)) {
    const [x, y] = pos(n);
    const fill = n.startsWith('a') ? '#dbe9f6' : n.startsWith('m') ? '#fde4c8' : n === 'logits' ? '#e5e5e5' : '#e2f0d9';
    const stroke = ref && ![...ref].some((k) => k.startsWith(`${n}->`) || receiverNode(splitEdge(k)[1]) === n) ? '#c00' : '#333';
    const ports = heads.has(n) ? (['q', 'k', 'v'] as const).map((q) => `<circle cx="${x + PORT_DX[q]}" cy="${y + 10}" r="2" fill="${COLOURS[q]}"/>${large ? '' : `<text x="${x + PORT_DX[q]}" y="${y + 19}" text-anchor="middle" font-size="7" fill="${COLOURS[q]}">${q}</text>`}`).join('') : '';
    parts.push(`<g><rect x="${x - 26}" y="${y - 10}" width="52" height="20" rx="5" fill="${fill}" stroke="${stroke}"/><text x="${x}" y="${y + 3.5}" text-anchor="middle">${escapeXml(n)}</text>${ports}<title>${escapeXml(n)}</title></g>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The note under a large circuit's drawing: where to explore it interactively. */
function largeNote(n: number): string {
  return n > LARGE_CIRCUIT
    ? `<p class="note large">${n} edges: the drawing is thinned (hover a path for its edge and score). To explore a circuit this large interactively (pan, zoom, re-select by score, q / k / v apart), run <code>npx circuitscope serve</code>, open the printed address and use <em>Open circuit JSON</em> on the file <code>discover --out</code> wrote.</p>`
    : '';
}

export function circuitHtml(file: CircuitFile, sections: string[] = []): string {
  const r = file.results;
  const kept = file.edges.filter((e) => e.inCircuit);
  const byReceiver = new Map<string, typeof kept>();
  for (const e of kept) { if (!byReceiver.has(e.to)) byReceiver.set(e.to, []); byReceiver.get(e.to)!.push(e); }
  const rows = [...file.edges].filter((e) => e.inCircuit || e.score !== null)
    .sort((a, b) => Number(b.inCircuit) - Number(a.inCircuit) || Math.abs(b.score ?? 0) - Math.abs(a.score ?? 0))
    .slice(0, 500)
    .map((e) => `<tr class="${e.inCircuit ? 'in' : 'out'}"><td>${escapeXml(e.from)}</td><td>${escapeXml(e.to)}</td><td>${fmtNum(e.score)}</td><td>${e.inCircuit ? 'yes' : ''}</td></tr>`).join('\n');
  const metrics: [string, string][] = [
    ['model', file.model], ['task', file.task], ['method', file.method], ['metric', `${file.metric} (task metric: ${r.metric})`],
    ['ablation', file.ablation], ['threshold', fmtThreshold(file.threshold)], ['top-n', fmtNum(file.topN)], ['prompts (n) / seed', `${file.n} / ${file.seed}`],
    ['clean', fmtNum(r.clean)], ['corrupted (no edges)', fmtNum(r.corrupted)], ['circuit', fmtNum(r.circuit)],
    ['faithfulness (normalised)', fmtNum(r.faithfulness)], ['KL(clean || circuit)', fmtNum(r.klCircuit, 4, KL_ZERO)],
    ['edges kept / total', `${r.edgesKept} / ${r.edgesTotal}`], ['seconds', fmtNum(r.seconds, 3)], ['backend', file.backend],
    ['weight processing', file.processing.length ? file.processing.join(', ') : 'none'],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Circuit: ${escapeXml(file.task)} · ${escapeXml(file.method)}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
tr.out td { color: #999; } .legend span { display: inline-block; margin-right: 14px; }
.note { color: #666; font-size: 12px; max-width: 640px; }
.grid { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
</style></head><body>
<h1>Circuit for <code>${escapeXml(file.task)}</code> found by ${escapeXml(file.method)} on <code>${escapeXml(file.model)}</code></h1>
<div class="grid"><div>
<h2>Circuit (${kept.length} edges)</h2>
<div class="legend"><span style="color:${COLOURS.q}">■ q</span><span style="color:${COLOURS.k}">■ k</span><span style="color:${COLOURS.v}">■ v</span><span style="color:${COLOURS['']}">■ MLP / logits</span></div>
${circuitSvg(file)}
${largeNote(kept.length)}
</div><div>
<h2>Metrics</h2>
<table>${metrics.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')}</table>
<h2>Kept edges by receiver</h2>
<table><tr><th>receiver</th><th>senders</th></tr>${[...byReceiver].map(([rcv, es]) => `<tr><td>${escapeXml(rcv)}</td><td>${es.map((e) => escapeXml(e.from)).join(', ')}</td></tr>`).join('')}</table>
</div></div>
${sections.join('\n')}
<h2>Edges (circuit first, then by |score|; at most 500)</h2>
<table><tr><th>sender</th><th>receiver</th><th>score</th><th>in circuit</th></tr>
${rows}
</table>
<p style="color:#888;font-size:11px">Created ${escapeXml(file.createdAt)} by circuitscope.</p>
</body></html>
`;
}
