/**
 * The static circuit report (src/report/circuit-html.ts): q, k and v edges into one head are
 * three paths with their own end points, colours (QKV_COLOUR) and titles (edge key and score);
 * a circuit of a few hundred edges is drawn thinned, without port letters, with a note pointing
 * to `circuitscope serve`.
 */
import { describe, expect, it } from 'vitest';
import { finalizeConfig, presetConfig, type ModelConfig } from '../../src/model/config.js';
import { buildGraph, type ComponentGraph } from '../../src/graph/graph.js';
import { Circuit } from '../../src/graph/circuit.js';
import { circuitToJson, QKV_COLOUR } from '../../src/graph/serialize.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { circuitHtml, circuitSvg, LARGE_CIRCUIT } from '../../src/report/circuit-html.js';

const tiny = (): ModelConfig => finalizeConfig({ modelName: 'tiny', nLayers: 2, nHeads: 2, dModel: 8, nCtx: 8, dVocab: 10 } as Parameters<typeof finalizeConfig>[0], 'test');

/** A circuit file (as discover writes it) of these edges, every graph edge scored. */
function fileOf(g: ComponentGraph, edges: string[]): CircuitFile {
  const scores = new Map(g.edgeKeys().map((k, i) => [k, 0.001 * (((i * 37) % 101) - 40)]));
  const json = circuitToJson(Circuit.fromEdges(g, edges), { scores, meta: { model: 'm', task: 't', method: 'eap' } }) as unknown as CircuitFile;
  return {
    ...json, ablation: 'resample', topN: null, n: 4, backend: 'cpu', processing: [], createdAt: '2026-01-01T00:00:00Z', metric: 'task',
    results: { metric: 'logprob', clean: 1, corrupted: 0, circuit: 0.5, faithfulness: 0.5, klCircuit: 0.1, edgesKept: edges.length, edgesTotal: g.edgeKeys().length, seconds: 1 },
  } as unknown as CircuitFile;
}

/** The drawn edge paths: key, d, end point, stroke, width and title. */
function paths(svg: string) {
  return [...svg.matchAll(/<path class="edge" data-edge="([^"]+)" d="([^"]+)" stroke="([^"]+)" stroke-opacity="[^"]+" stroke-width="([^"]+)"><title>([^<]*)<\/title><\/path>/g)].map((m) => {
    const nums = m[2].trim().split(/[ ,MC]+/).filter((x) => x !== '').map(Number);
    const un = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    return { key: un(m[1]), d: m[2], end: nums.slice(-2).join(','), stroke: m[3], width: Number(m[4]), title: un(m[5]) };
  });
}

describe('circuit report drawing', () => {
  it('draws a0.h0->a1.h0 <q>, <k>, <v> as three paths with distinct end points, colours and titles', () => {
    const g = buildGraph(tiny());
    const edges = ['input->a0.h0<v>', 'a0.h0->a1.h0<q>', 'a0.h0->a1.h0<k>', 'a0.h0->a1.h0<v>', 'a1.h0->logits'];
    const file = fileOf(g, edges);
    const score = new Map(file.edges.map((e) => [`${e.from}->${e.to}`, e.score!]));
    const ps = paths(circuitSvg(file));
    expect(ps.map((p) => p.key).sort()).toEqual([...edges].sort());
    const qkv = ps.filter((p) => p.key.startsWith('a0.h0->a1.h0'));
    expect(qkv.length).toBe(3);
    expect(new Set(qkv.map((p) => p.d)).size).toBe(3);
    expect(new Set(qkv.map((p) => p.end)).size).toBe(3);
    expect(new Set(qkv.map((p) => p.title)).size).toBe(3);
    for (const p of qkv) {
      const q = /<([qkv])>$/.exec(p.key)![1];
      expect(p.stroke).toBe(QKV_COLOUR[q]);
      expect(p.title).toMatch(new RegExp(`^${p.key.replace(/[.<>]/g, '\\$&')} score -?\\d`));
      expect(Number(p.title.split('score ')[1])).toBeCloseTo(score.get(p.key)!, 3);
    }
    // q ends left of k, k left of v (the ports along the head's bottom edge)
    const x = (q: string) => Number(qkv.find((p) => p.key.endsWith(`<${q}>`))!.end.split(',')[0]);
    expect(x('q')).toBeLessThan(x('k'));
    expect(x('k')).toBeLessThan(x('v'));
    expect(ps.find((p) => p.key === 'a1.h0->logits')!.stroke).toBe(QKV_COLOUR.none);
    const html = circuitHtml(file);
    expect(html).not.toContain('class="note large"');
    expect(html).toContain(`fill="${QKV_COLOUR.q}">q</text>`);
  });

  it('stays legible for a few hundred edges: thin strokes, no port letters, a note pointing to circuitscope serve', () => {
    const g = buildGraph(presetConfig('gpt2-small'));
    const keys = g.edgeKeys();
    const edges = keys.filter((_, i) => i % 97 === 0).slice(0, 300);
    expect(edges.length).toBeGreaterThan(LARGE_CIRCUIT);
    const file = fileOf(g, edges);
    const html = circuitHtml(file);
    const ps = paths(html);
    expect(ps.length).toBe(edges.length);
    expect(new Set(ps.map((p) => p.title)).size).toBe(edges.length);
    for (const p of ps) expect(p.width).toBeLessThanOrEqual(0.7);
    expect(html).not.toMatch(/font-size="7"[^>]*>[qkv]<\/text>/);
    expect(html).toMatch(/class="note large">\d+ edges: .*<code>npx circuitscope serve<\/code>/);
  });
});
