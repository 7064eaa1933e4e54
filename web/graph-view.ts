/**
 * The circuit graph of the results: an SVG laid out by elkjs (layered, bottom to top, one
 * partition per rank as the DOT writer ranks them: the embedding, then per layer its heads and
 * its MLP, then logits), panned and zoomed with d3-zoom. A head has three input ports (q, k, v,
 * left to right), so its q, k and v edges end apart; each is coloured by the receiver input
 * (QKV_COLOUR, the DOT writer's colours, with a legend), and its width grows with |score|.
 * Hovering an edge shows its key and score; hovering a node shows its name; clicking a head
 * calls `onHead`. With a reference circuit (`draw(edges, reference)`), the reference's edges
 * missing from the circuit are drawn too, dashed grey (class `missing`), and the circuit's edges
 * outside the reference are marked with a pale red halo (class `extra`).
 *
 * The SVG carries its colours as attributes (no stylesheet), so `svgText()` is a standalone
 * file of the whole graph, and `pngBlob()` the same drawn on a canvas.
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode, ElkPort } from 'elkjs/lib/elk-api.js';
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type ZoomBehavior } from 'd3-zoom';
import { nodeOrder, parseNodeKey, parseReceiverKey } from '../src/graph/names.js';
import { QKV_COLOUR } from '../src/graph/serialize.js';
import { fmtNum } from '../src/util/format.js';
import type { CircuitEdge } from '../src/graph/circuit-file.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const FILL = { embed: '#e2f0d9', head: '#dbe9f6', mlp: '#fde4c8', logits: '#e5e5e5' } as const;
const STROKE = { embed: '#7aa562', head: '#5b8fc7', mlp: '#d39a57', logits: '#8a8a8a' } as const;
const PAD = 24;
const FONT = 'Helvetica, Arial, sans-serif';
/** The export's title and legend lines above the graph, and the legend's width (four entries 58 px apart). */
const HEADER = 40, LEGEND_WIDTH = 3 * 58 + 70;
/** The longest canvas side every browser draws (Chromium and Firefox allow more, Safari ~16k). */
const MAX_CANVAS = 16384;

/** The rank of a node, as the DOT writer ranks it: input 0, a{L} 1+2L, m{L} 2+2L, logits 2 nLayers + 1. */
export function rankOf(node: string, nLayers: number): number {
  const p = parseNodeKey(node);
  if (!p) return 2 * nLayers + 1;
  if (p.layer < 0) return 0;
  if (p.kind === 'logits') return 2 * nLayers + 1;
  return 1 + 2 * p.layer + (p.kind === 'mlp' ? 1 : 0);
}

function kindOf(node: string): keyof typeof FILL {
  const p = parseNodeKey(node);
  if (!p || p.kind === 'logits') return 'logits';
  if (p.layer < 0) return 'embed';
  return p.kind === 'head' ? 'head' : 'mlp';
}

const el = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] => {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

/** An edge section as an SVG path: ELK's spline sections are cubic Béziers (start, then (c1, c2, end) triples). */
function pathOf(s: { startPoint: { x: number; y: number }; endPoint: { x: number; y: number }; bendPoints?: { x: number; y: number }[] }): string {
  const pts = [...(s.bendPoints ?? []), s.endPoint];
  const f = (p: { x: number; y: number }) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`;
  let d = `M${f(s.startPoint)}`;
  if (pts.length % 3 === 0) for (let i = 0; i < pts.length; i += 3) d += ` C${f(pts[i])} ${f(pts[i + 1])} ${f(pts[i + 2])}`;
  else for (const p of pts) d += ` L${f(p)}`;
  return d;
}

/** An edge to draw: the circuit's (`extra` when outside the reference) or the reference's missing one. */
type DrawnEdge = CircuitEdge & { mark: 'match' | 'extra' | 'missing' | null };

export interface GraphViewOptions {
  nLayers: number;
  /** hovering an edge or node: its text, or null when the pointer leaves */
  onHover?: (text: string | null, ev: MouseEvent) => void;
  /** clicking a head node: its name (a{L}.h{H}) */
  onHead?: (node: string) => void;
}

/** The missing edges' colour and dashes, and the extra edges' halo. */
export const OVERLAY = { missing: '#9a9a9a', dash: '4 3', extra: '#f3b0b0' } as const;

/** The graph drawn in `host` (an <svg>); `draw` lays out and draws a set of edges. */
export class GraphView {
  private readonly elk = new ELK();
  private readonly root: SVGGElement;
  private readonly zoomer: ZoomBehavior<SVGSVGElement, unknown>;
  private bounds = { width: 0, height: 0 };
  private seq = 0;
  /** the circuit's edge keys drawn now */
  drawn: string[] = [];
  /** the reference's edges drawn as missing, and the circuit's edges marked extra */
  overlay: { missing: string[]; extra: string[] } | null = null;

  constructor(private readonly svg: SVGSVGElement, private opts: GraphViewOptions) {
    this.root = el('g');
    svg.replaceChildren(this.root);
    this.zoomer = zoom<SVGSVGElement, unknown>().scaleExtent([0.05, 8]).on('zoom', (ev: { transform: { toString(): string } }) => {
      this.root.setAttribute('transform', ev.transform.toString());
    });
    select(svg).call(this.zoomer).on('dblclick.zoom', null);
  }

  setLayers(nLayers: number): void { this.opts = { ...this.opts, nLayers }; }

  /** Lay out and draw these edges (only the nodes they touch); resolves when drawn, false when a newer draw overtook it. */
  async draw(circuit: readonly CircuitEdge[], reference: ReadonlySet<string> | null = null): Promise<boolean> {
    const my = ++this.seq;
    const nLayers = this.opts.nLayers;
    const keys = new Set(circuit.map((e) => `${e.from}->${e.to}`));
    const missing = reference ? [...reference].filter((k) => !keys.has(k)).sort() : [];
    const edges: DrawnEdge[] = [
      ...circuit.map((e) => ({ ...e, mark: reference ? (reference.has(`${e.from}->${e.to}`) ? 'match' : 'extra') : null } as DrawnEdge)),
      ...missing.map((k) => { const i = k.indexOf('->'); return { from: k.slice(0, i), to: k.slice(i + 2), score: null, inCircuit: false, mark: 'missing' } as DrawnEdge; }),
    ];
    const nodes = new Set<string>();
    for (const e of edges) { nodes.add(e.from); nodes.add(parseReceiverKey(e.to).node); }
    const ordered = [...nodes].sort(nodeOrder);
    const children: ElkNode[] = ordered.map((id) => {
      const head = kindOf(id) === 'head';
      const ports: ElkPort[] = [{ id: `${id}|out`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'NORTH' } }];
      if (head) (['q', 'k', 'v'] as const).forEach((q, i) => ports.push({ id: `${id}|${q}`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'SOUTH', 'elk.port.index': String(2 - i) } }));
      else ports.push({ id: `${id}|in`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'SOUTH' } });
      return {
        id, width: head ? 60 : id === 'input' || id === 'logits' ? 64 : 44, height: 26, ports,
        layoutOptions: { 'elk.portConstraints': 'FIXED_ORDER', 'elk.partitioning.partition': String(rankOf(id, nLayers)) },
      };
    });
    const elkEdges: ElkExtendedEdge[] = edges.map((e, i) => {
      const { node, qkv } = parseReceiverKey(e.to);
      return { id: `e${i}`, sources: [`${e.from}|out`], targets: [`${node}|${qkv ?? 'in'}`] };
    });
    const laid = await this.elk.layout({
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered', 'elk.direction': 'UP', 'elk.edgeRouting': 'SPLINES',
        'elk.partitioning.activate': 'true', 'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
        'elk.spacing.nodeNode': '16', 'elk.layered.spacing.nodeNodeBetweenLayers': '44', 'elk.spacing.edgeEdge': '6',
      },
      children, edges: elkEdges,
    });
    if (my !== this.seq) return false;
    this.render(laid, edges);
    this.drawn = circuit.map((e) => `${e.from}->${e.to}`);
    this.overlay = reference ? { missing, extra: edges.filter((e) => e.mark === 'extra').map((e) => `${e.from}->${e.to}`) } : null;
    return true;
  }

  private render(laid: ElkNode, edges: readonly DrawnEdge[]): void {
    const maxAbs = Math.max(0, ...edges.map((e) => Math.abs(e.score ?? 0)));
    const gEdges = el('g', { fill: 'none' }), gNodes = el('g');
    (laid.edges ?? []).forEach((le, i) => {
      const e = edges[i];
      const key = `${e.from}->${e.to}`;
      const { qkv } = parseReceiverKey(e.to);
      const missing = e.mark === 'missing';
      const colour = missing ? OVERLAY.missing : QKV_COLOUR[qkv ?? 'none'];
      const width = missing ? 1.4 : e.score !== null && maxAbs > 0 ? 0.8 + 3.7 * Math.abs(e.score) / maxAbs : 1.4;
      const text = missing ? `${key}  in the reference, missing from the circuit`
        : `${e.score === null ? key : `${key}  score ${fmtNum(e.score, 4, 1e-12)}`}${e.mark === 'extra' ? '  (not in the reference)' : ''}`;
      for (const s of (le as ElkExtendedEdge).sections ?? []) {
        const d = pathOf(s);
        const g = el('g', { class: e.mark === 'missing' || e.mark === 'extra' ? `edge ${e.mark}` : 'edge', 'data-edge': key });
        const title = el('title'); title.textContent = text;
        const dash = missing ? OVERLAY.dash : e.score !== null && e.score < 0 ? '5 3' : null;
        const seen = el('path', { d, stroke: colour, 'stroke-width': width.toFixed(2), 'stroke-opacity': 0.8, ...(dash ? { 'stroke-dasharray': dash } : {}) });
        const hit = el('path', { d, stroke: 'transparent', 'stroke-width': 9, class: 'hit' });
        if (e.mark === 'extra') g.append(el('path', { d, stroke: OVERLAY.extra, 'stroke-width': (width + 5).toFixed(2), 'stroke-opacity': 0.7, class: 'halo' }));
        g.append(title, seen, hit);
        g.addEventListener('mouseenter', (ev) => { seen.setAttribute('stroke-opacity', '1'); seen.setAttribute('stroke-width', (width + 1.5).toFixed(2)); this.opts.onHover?.(text, ev); });
        g.addEventListener('mousemove', (ev) => this.opts.onHover?.(text, ev));
        g.addEventListener('mouseleave', (ev) => { seen.setAttribute('stroke-opacity', '0.8'); seen.setAttribute('stroke-width', width.toFixed(2)); this.opts.onHover?.(null, ev); });
        gEdges.append(g);
      }
    });
    for (const n of laid.children ?? []) {
      const k = kindOf(n.id);
      const g = el('g', { class: 'node', 'data-node': n.id, transform: `translate(${n.x},${n.y})` });
      const title = el('title'); title.textContent = n.id;
      const label = el('text', { x: n.width! / 2, y: n.height! / 2 + 4, 'text-anchor': 'middle', 'font-size': 12, 'font-family': FONT, fill: '#1d2230' });
      label.textContent = n.id;
      g.append(title, el('rect', { width: n.width!, height: n.height!, rx: 5, fill: FILL[k], stroke: STROKE[k] }), label);
      if (k === 'head') for (const p of n.ports ?? []) {
        const q = p.id.split('|')[1];
        if (q === 'q' || q === 'k' || q === 'v') g.append(el('circle', { cx: p.x! + 0.5, cy: n.height!, r: 2.2, fill: QKV_COLOUR[q] }));
      }
      if (k === 'head') g.addEventListener('click', () => this.opts.onHead?.(n.id));
      g.addEventListener('mouseenter', (ev) => this.opts.onHover?.(k === 'head' && this.opts.onHead ? `${n.id}  (click: attention pattern)` : n.id, ev));
      g.addEventListener('mouseleave', (ev) => this.opts.onHover?.(null, ev));
      gNodes.append(g);
    }
    this.root.replaceChildren(gEdges, gNodes);
    this.bounds = { width: laid.width ?? 0, height: laid.height ?? 0 };
    this.fit();
  }

  /** Zoom to show the whole graph. */
  fit(): void {
    const box = this.svg.getBoundingClientRect();
    const W = box.width || 800, H = box.height || 500;
    const { width, height } = this.bounds;
    if (width === 0 || height === 0) return;
    const k = Math.min(2, (W - 2 * PAD) / width, (H - 2 * PAD) / height);
    select(this.svg).call(this.zoomer.transform, zoomIdentity.translate((W - k * width) / 2, (H - k * height) / 2).scale(k));
  }

  /**
   * The size of the exported graph (svgText's width and height, CSS pixels): the layout and its
   * margins under a title line and a legend line, wide enough for the title (a small graph's
   * title would otherwise run off the image).
   */
  exportSize(title: string): { width: number; height: number } {
    const ctx = document.createElement('canvas').getContext('2d');
    if (ctx) ctx.font = `13px ${FONT}`;
    const titleWidth = ctx ? ctx.measureText(title).width : 7 * title.length;
    return { width: Math.ceil(Math.max(this.bounds.width, titleWidth, LEGEND_WIDTH) + 2 * PAD), height: Math.ceil(this.bounds.height + 2 * PAD + HEADER) };
  }

  /** The whole graph as a standalone SVG file (no zoom, the legend included). */
  svgText(title: string): string {
    const { width: W, height: H } = this.exportSize(title);
    const out = el('svg', { xmlns: SVG_NS, width: W, height: H, viewBox: `0 0 ${W} ${H}` });
    out.append(el('rect', { width: W, height: H, fill: '#ffffff' }));
    const t = el('text', { x: PAD, y: 18, 'font-size': 13, 'font-family': FONT, fill: '#1d2230' });
    t.textContent = title;
    const legend = el('g', { transform: `translate(${PAD},26)` });
    (['q', 'k', 'v', 'none'] as const).forEach((q, i) => {
      legend.append(el('line', { x1: i * 58, y1: 6, x2: i * 58 + 16, y2: 6, stroke: QKV_COLOUR[q], 'stroke-width': 2.5 }));
      const lt = el('text', { x: i * 58 + 20, y: 10, 'font-size': 11, 'font-family': FONT, fill: '#1d2230' });
      lt.textContent = q === 'none' ? 'mlp/out' : q;
      legend.append(lt);
    });
    const body = this.root.cloneNode(true) as SVGGElement;
    // centred when the title made the file wider than the graph
    body.setAttribute('transform', `translate(${((W - this.bounds.width) / 2).toFixed(1)},${PAD + HEADER})`);
    for (const hit of body.querySelectorAll('.hit')) hit.remove();
    out.append(t, legend, body);
    return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(out)}\n`;
  }

  /**
   * The SVG export as a PNG: drawn as an image on a canvas of `scale` device pixels per CSS
   * pixel (the screen's density, so it is as sharp as the page), lowered when the canvas would
   * pass the browsers' size limit.
   */
  async pngBlob(title: string, scale = window.devicePixelRatio || 1): Promise<Blob> {
    const { width, height } = this.exportSize(title);
    const k = Math.min(scale, MAX_CANVAS / Math.max(width, height));
    const url = URL.createObjectURL(new Blob([this.svgText(title)], { type: 'image/svg+xml' }));
    try {
      const img = new Image();
      await new Promise<void>((resolve, reject) => {
        img.onload = () => resolve();
        img.onerror = () => reject(new Error('web: the graph could not be drawn as an image'));
        img.src = url;
      });
      const canvas = document.createElement('canvas');
      canvas.width = Math.round(width * k);
      canvas.height = Math.round(height * k);
      canvas.getContext('2d')!.drawImage(img, 0, 0, canvas.width, canvas.height);
      return await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('web: the canvas gave no PNG'))), 'image/png'));
    } finally {
      URL.revokeObjectURL(url);
    }
  }
}
