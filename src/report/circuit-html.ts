/**
 * A self-contained HTML report of a circuit file: the circuit drawn as a layered graph (one row
 * per layer, heads side by side, the MLP at the row's end, input at the bottom, logits on top),
 * the metrics, and a sortable-by-eye table of edges. Inline SVG and CSS only: no scripts from
 * the network, no native dependency.
 */
import type { CircuitFile } from '../graph/circuit-file.js';
import { circuitEdgeKeys, circuitNodes } from '../graph/circuit-file.js';
import { receiverNode, splitEdge } from '../graph/names.js';
import { fmtNum, fmtThreshold, KL_ZERO } from '../util/format.js';
import { escapeXml } from './heatmap.js';

const COLOURS: Record<string, string> = { q: '#1f77b4', k: '#2ca02c', v: '#d62728', '': '#666666' };

/** SVG of the circuit's nodes and edges. */
export function circuitSvg(file: CircuitFile, extra?: { reference?: Set<string> }): string {
  const edges = [...circuitEdgeKeys(file)];
  const { nLayers, nHeads, attnOnly } = file.modelConfig;
  const cols = nHeads + (attnOnly ? 0 : 1);
  const cw = 64, rh = 70, padX = 40, padY = 30;
  const width = padX * 2 + cols * cw;
  const height = padY * 2 + (nLayers + 2) * rh;
  const pos = (n: string): [number, number] => {
    const rowY = (r: number) => height - padY - r * rh - rh / 2;
    if (n === 'input' || n === 'tok' || n === 'pos') return [padX + (n === 'pos' ? 2 : n === 'tok' ? 0.5 : cols / 2 - 0.5) * cw + cw / 2 - (n === 'input' ? 0 : 0), rowY(0)];
    if (n === 'logits') return [padX + (cols / 2 - 0.5) * cw + cw / 2, rowY(nLayers + 1)];
    const h = /^a(\d+)\.h(\d+)$/.exec(n);
    if (h) return [padX + Number(h[2]) * cw + cw / 2, rowY(Number(h[1]) + 1)];
    const m = /^m(\d+)$/.exec(n);
    if (m) return [padX + nHeads * cw + cw / 2, rowY(Number(m[1]) + 1) - rh * 0.35];
    return [0, 0];
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="10">`);
  for (let l = 0; l < nLayers; l++) {
    const y = height - padY - (l + 1) * rh - rh / 2;
    parts.push(`<text x="4" y="${y + 3}" fill="#888">L${l}</text>`);
  }
  for (const e of edges) {
    const [s, r] = splitEdge(e);
    const [x1, y1] = pos(s), [x2, y2] = pos(receiverNode(r));
    const m = /<([qkv])>$/.exec(r);
    const c = COLOURS[m ? m[1] : ''];
    const dy = Math.max(20, (y1 - y2) / 2);
    parts.push(`<path d="M${x1},${y1 - 10} C${x1},${y1 - dy} ${x2},${y2 + dy} ${x2},${y2 + 10}" fill="none" stroke="${c}" stroke-opacity="0.6" stroke-width="1.3"><title>${escapeXml(e)}</title></path>`);
  }
  const ref = extra?.reference;
  for (const n of circuitNodes(edges)) {
    const [x, y] = pos(n);
    const fill = n.startsWith('a') ? '#dbe9f6' : n.startsWith('m') ? '#fde4c8' : n === 'logits' ? '#e5e5e5' : '#e2f0d9';
    const stroke = ref && ![...ref].some((k) => k.startsWith(`${n}->`) || receiverNode(splitEdge(k)[1]) === n) ? '#c00' : '#333';
    parts.push(`<g><rect x="${x - 26}" y="${y - 10}" width="52" height="20" rx="5" fill="${fill}" stroke="${stroke}"/><text x="${x}" y="${y + 3.5}" text-anchor="middle">${escapeXml(n)}</text><title>${escapeXml(n)}</title></g>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
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
.grid { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
</style></head><body>
<h1>Circuit for <code>${escapeXml(file.task)}</code> found by ${escapeXml(file.method)} on <code>${escapeXml(file.model)}</code></h1>
<div class="grid"><div>
<h2>Circuit (${kept.length} edges)</h2>
<div class="legend"><span style="color:${COLOURS.q}">■ q</span><span style="color:${COLOURS.k}">■ k</span><span style="color:${COLOURS.v}">■ v</span><span style="color:${COLOURS['']}">■ MLP / logits</span></div>
${circuitSvg(file)}
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
