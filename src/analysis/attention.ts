/**
 * Attention patterns of chosen heads on one prompt (what CircuitsVis' attention view shows in
 * TransformerLens notebooks), as data and as a self-contained HTML page: one heatmap panel per
 * head, destination (query) tokens as rows, source (key) tokens as columns, the causal upper
 * triangle grey, each cell's `<title>` tooltip naming destination, source and weight. No
 * scripts and no network references, so the page renders offline.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { hook } from '../model/hook-names.js';
import { tokenizerFor } from '../model/tokenizer.js';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import { heatmapSvg, htmlPage, type HtmlFigure } from '../report/heatmap.js';
import { fmtNum } from '../util/format.js';
import { headName, type HeadRef } from './heads.js';

export interface HeadPattern extends HeadRef {
  /** a{L}.h{H} */
  name: string;
  /** [T][T]: row = destination (query) position, column = source (key) position; 0 above the diagonal */
  pattern: number[][];
}

export interface AttentionResult {
  tokens: number[];
  /** one display string per token (the tokenizer's piece, or the id for id models) */
  strTokens: string[];
  heads: HeadPattern[];
}

/** Each token's text (GPT-2: its BPE piece with the leading space; id models: the id). */
export function tokenStrings(cfg: ModelConfig, tokens: readonly number[]): string[] {
  const tok = tokenizerFor(cfg);
  return tokens.map((id) => (cfg.tokenizerName === null ? String(id) : tok.idToString(id)));
}

/**
 * The attention patterns of `heads` on one prompt (one forward, then one read of only the
 * heads asked for). Leaves no tensors behind.
 */
export async function attentionPatterns(model: HookedTransformer, tokens: readonly number[], heads: readonly HeadRef[]): Promise<AttentionResult> {
  if (heads.length === 0) throw new Error('attention: no heads to show');
  const byLayer = new Map<number, number[]>();
  for (const h of heads) {
    if (h.layer < 0 || h.layer >= model.cfg.nLayers || h.head < 0 || h.head >= model.cfg.nHeads) {
      throw new Error(`attention: head ${headName(h)} does not exist (model: ${model.cfg.nLayers} layers x ${model.cfg.nHeads} heads)`);
    }
    byLayer.set(h.layer, [...(byLayer.get(h.layer) ?? []), h.head]);
  }
  // Keep the wanted heads of each layer (x [1, H, T, T]; the layer's tidy frees x afterwards),
  // then read them all at once after the forward.
  const kept = new Map<number, tf.Tensor>();
  const hooks: HookSpec[] = [...byLayer].map(([layer, hs]) => [hook.pattern(layer), (x: tf.Tensor) => {
    kept.get(layer)?.dispose();
    kept.set(layer, tf.keep(tf.gather(x, hs, 1)));
  }]);
  const got = new Map<string, number[][]>();
  try {
    tf.dispose(model.runWithHooks([[...tokens]], hooks));
    const layers = [...byLayer.keys()];
    const all = tf.tidy(() => tf.concat(layers.map((l) => kept.get(l)!), 1)); // [1, sum of heads, T, T]
    let sel: number[][][][];
    try {
      sel = (await all.array()) as number[][][][];
    } finally {
      all.dispose();
    }
    let i = 0;
    for (const l of layers) for (const h of byLayer.get(l)!) got.set(`${l}.${h}`, sel[0][i++]);
  } finally {
    tf.dispose([...kept.values()]);
  }
  return {
    tokens: [...tokens],
    strTokens: tokenStrings(model.cfg, tokens),
    heads: heads.map((h) => ({ layer: h.layer, head: h.head, name: headName(h), pattern: got.get(`${h.layer}.${h.head}`)! })),
  };
}

/** Row / column labels: the position and the token (`3 " Mary"` for text tokenizers, `3:17` for ids). */
export function tokenLabels(strTokens: readonly string[], quoted: boolean): string[] {
  return strTokens.map((s, i) => (quoted ? `${i} ${JSON.stringify(s)}` : `${i}:${s}`));
}

/** One head's pattern as an SVG heatmap with hover tooltips (sequential scale over [0, 1]: weight 0 white, 1 dark red). */
export function attentionSvg(p: HeadPattern, labels: readonly string[], opts: { title?: string; subtitle?: string } = {}): string {
  const T = labels.length;
  return heatmapSvg({
    values: p.pattern.map((row, i) => row.map((v, j) => (j > i ? null : v))),
    rowLabels: labels,
    colLabels: labels,
    title: opts.title ?? `${p.name} (layer ${p.layer}, head ${p.head})`,
    subtitle: opts.subtitle,
    yLabel: 'destination (query)',
    xLabel: 'source (key)',
    scale: 'sequential',
    domain: [0, 1],
    cell: Math.max(12, Math.min(36, Math.floor(640 / Math.max(T, 1)))),
    valueLabel: 'attention weight',
    tooltip: (i, j, v) => (v === null
      ? `${p.name}: destination ${labels[i]} cannot attend to the later source ${labels[j]}`
      : `${p.name}: destination ${labels[i]} <- source ${labels[j]}: weight ${fmtNum(v)}`),
  });
}

/** The strongest sources of destination `dest`, best first. */
export function topSources(p: HeadPattern, dest: number, k = 3): { source: number; weight: number }[] {
  return p.pattern[dest]
    .slice(0, dest + 1)
    .map((weight, source) => ({ source, weight }))
    .sort((a, b) => b.weight - a.weight)
    .slice(0, k);
}

/** One line per head: where the last token attends. */
export function attentionSummary(r: AttentionResult, quoted: boolean): string {
  const last = r.tokens.length - 1;
  const lab = tokenLabels(r.strTokens, quoted);
  const lines = [`destination ${lab[last]} (the last token) attends to:`];
  const w = Math.max(...r.heads.map((h) => h.name.length));
  for (const h of r.heads) lines.push(`  ${h.name.padEnd(w)}  ${topSources(h, last).map((s) => `${lab[s.source]} ${fmtNum(s.weight, 3)}`).join(', ')}`);
  return lines.join('\n');
}

export interface AttentionPageOptions {
  title: string;
  intro?: string[];
  facts?: [string, string | number][];
  /** a caption per head name (e.g. its role in a circuit) */
  captions?: ReadonlyMap<string, string>;
  quoted: boolean;
}

/** The self-contained HTML page: the prompt, then one panel per head. */
export function attentionHtml(r: AttentionResult, o: AttentionPageOptions): string {
  const labels = tokenLabels(r.strTokens, o.quoted);
  const figures: HtmlFigure[] = r.heads.map((h) => ({ svg: attentionSvg(h, labels), caption: o.captions?.get(h.name) }));
  return htmlPage({
    title: o.title,
    intro: [
      ...(o.intro ?? []),
      'One panel per head: rows are destination (query) tokens, columns source (key) tokens; white = 0, dark red = 1; grey cells are later tokens, which causal attention cannot see. Hover a cell for its destination, source and weight.',
    ],
    facts: [...(o.facts ?? []), ['tokens', labels.join('  ')]],
    figures,
  });
}
