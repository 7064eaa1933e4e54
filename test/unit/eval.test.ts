/**
 * Evaluation arithmetic with known answers (no model): ACDC's pessimistic AUC (its own asserts,
 * among them (0,0),(0.5,0.5),(1,1) -> 0.25) and, on random point sets, the staircase sum
 * against an independent integral of max{TPR : FPR <= x}; Pareto filtering; confusion counts
 * and node-level ROC on hand-made circuits; ACDC's direct edges; MIB sizes, rankings and the
 * CPR/CMD trapezoids against hand sums; node removal; circuit comparison; the SVG charts.
 */
import { describe, it, expect } from 'vitest';
import { compareToReference, confusion, directEdges, paretoCurve, pessimisticAuc, referenceScorer, rocNodes, staircaseArea } from '../../src/eval/roc.js';
import { mibArea, mibAxis, mibCircuitsFromScores, mibCircuitsFromSweep, mibCounts, mibSelections, MIB_SIZES, rankEdges, importanceSign } from '../../src/eval/mib.js';
import { pruneDangling } from '../../src/graph/selection.js';
import { circuitComponents, removeNodes } from '../../src/eval/criteria.js';
import { compareCircuits, comparisonText } from '../../src/eval/compare.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { align, mergeEmbed } from '../../src/eval/reference.js';
import { readReferenceFile } from '../../src/cli/context.js';
import { lineChartSvg } from '../../src/eval/plot.js';
import { comparisonHtml, overlaySvg } from '../../src/eval/html.js';

import { evaluationText, rankingSizes, type Evaluation } from '../../src/eval/evaluate.js';
import { evaluationSections } from '../../src/eval/html.js';
import { buildLayout, layoutEdges } from '../../src/graph/layout.js';
import { presetConfig, resolveConfigJson } from '../../src/model/config.js';
import { Rng } from '../../src/util/rng.js';
import { readFileSync } from 'node:fs';
import { SHARED, TOL } from '../helpers.js';

const P = (fpr: number, tpr: number) => ({ fpr, tpr });

/** Independent AUC: the integral over [0, 1] of max{tpr : fpr <= x} (points with (0,0)). */
function integralAuc(points: { fpr: number; tpr: number }[]): number {
  const xs = [...new Set([0, 1, ...points.map((p) => p.fpr)])].sort((a, b) => a - b);
  let area = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    const h = Math.max(0, ...points.filter((p) => p.fpr <= xs[i]).map((p) => p.tpr));
    area += (xs[i + 1] - xs[i]) * h;
  }
  return area;
}

describe('pessimistic AUC', () => {
  it("ACDC's asserts", () => {
    expect(pessimisticAuc([P(0.5, 0.5)])).toBe(0.25);
    expect(staircaseArea([0, 0.5, 1], [0, 0.5, 1])).toBe(0.25);
    expect(staircaseArea([0, 1], [0, 1])).toBe(0);
    expect(staircaseArea([0, 0.25, 1], [0, 0.25, 1])).toBe(0.25 * 0.75);
    expect(staircaseArea([0, 0.25, 0.5, 1], [0, 0.25, 0.5, 1])).toBe(5 / 16);
    expect(staircaseArea([0, 0.25, 0.75, 1], [0, 0.25, 0.5, 1])).toBe(4 / 16);
    expect(() => staircaseArea([0, 0.5, 0.4], [0, 0.5, 1])).toThrow(/not sorted/);
    expect(() => staircaseArea([0, 0.5, 1], [0, 0.6, 0.5])).toThrow(/monotonically/);
  });

  it('perfect, empty, full and chance circuits', () => {
    expect(pessimisticAuc([P(0, 1)])).toBe(1);
    expect(pessimisticAuc([])).toBe(0);
    expect(pessimisticAuc([P(1, 1)])).toBe(0);
    expect(pessimisticAuc([P(0, 0)])).toBe(0);
    expect(pessimisticAuc([P(0.2, 0.6), P(0.5, 0.9)])).toBeCloseTo(0.8 * 0.6 + 0.5 * 0.3, 12);
  });

  it('drops dominated points and keeps the Pareto staircase', () => {
    const c = paretoCurve([P(0.4, 0.4), P(0.2, 0.5), P(0.6, 0.9), P(0.6, 0.7)]);
    expect(c.map((p) => [p.fpr, p.tpr])).toEqual([[0, 0], [0.2, 0.5], [0.6, 0.7], [0.6, 0.9], [1, 1]]);
    expect(() => paretoCurve([P(1.2, 0.5)])).toThrow(/outside/);
  });

  it('equals the integral of max{TPR : FPR <= x} on random sweeps', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 200; t++) {
      const pts = Array.from({ length: rng.int(0, 12) }, () => P(Math.round(rng.next() * 20) / 20, Math.round(rng.next() * 20) / 20));
      expect(Math.abs(pessimisticAuc(pts) - integralAuc(pts))).toBeLessThan(TOL.exact);
    }
  });
});

describe('confusion and node-level ROC on hand-made circuits', () => {
  const layout = buildLayout(presetConfig('redwood-attn-2l'), false);
  const all = layoutEdges(layout);
  const ref = new Set(['input->a0.h1<q>', 'input->a0.h1<k>', 'a0.h1->a1.h3<k>', 'a1.h3->logits']);

  it('counts edges', () => {
    const found = new Set(['input->a0.h1<q>', 'a0.h1->a1.h3<k>', 'a1.h3->logits', 'a0.h2->logits']);
    const c = confusion(found, ref, all);
    expect([c.tp, c.fp, c.fn, c.tn]).toEqual([3, 1, 1, all.length - 5]);
    expect(c.tpr).toBe(0.75);
    expect(c.fpr).toBe(1 / (all.length - 4));
    expect(c.precision).toBe(0.75);
    expect(c.f1).toBeCloseTo(0.75, 12);
    expect(confusion(ref, ref, all)).toMatchObject({ tpr: 1, fpr: 0, precision: 1 });
    expect(confusion(new Set(), ref, all)).toMatchObject({ tp: 0, fp: 0, tpr: 0, fpr: 0, precision: null });
    expect(confusion(new Set(all), ref, all)).toMatchObject({ tpr: 1, fpr: 1 });
    expect(() => confusion(new Set(['a9.h9->logits']), ref, all)).toThrow(/not in the graph/);
  });

  it('node level: senders, head inputs apart from heads, logits', () => {
    expect([...rocNodes(ref)].sort()).toEqual(['a0.h1', 'a0.h1<k>', 'a0.h1<q>', 'a1.h3', 'a1.h3<k>', 'input', 'logits'].sort());
    const found = new Set(['input->a0.h1<q>', 'a0.h1->logits']);
    const r = compareToReference(found, ref, all);
    // found nodes: input, a0.h1<q>, a0.h1, logits -> all four in the reference's nodes
    expect(r.nodes.tp).toBe(4);
    expect(r.nodes.fp).toBe(0);
    expect(r.nodes.fn).toBe(3);
    // universe: 1 input + 16 heads + 48 head inputs + logits
    expect(r.nodes.tp + r.nodes.fp + r.nodes.fn + r.nodes.tn).toBe(1 + 16 + 48 + 1);
  });

  it('the sweep scorer equals the plain confusion count on random circuits', () => {
    const rng = new Rng(3);
    const score = referenceScorer(ref, all);
    for (let t = 0; t < 20; t++) {
      const found = new Set(all.filter(() => rng.next() < 0.1));
      const r = score(found);
      expect(r.edges).toEqual(confusion(found, ref, all));
      expect(r.nodes).toEqual(confusion(rocNodes(found), rocNodes(ref), [...rocNodes(all)]));
    }
  });

  it("ACDC's direct edges: one per head input that receives an edge", () => {
    expect(directEdges(ref).sort()).toEqual(['a0.h1<k>=>a0.h1', 'a0.h1<q>=>a0.h1', 'a1.h3<k>=>a1.h3']);
    const r = compareToReference(new Set(['input->a0.h1<q>']), ref, all, { countDirect: true });
    expect(r.edges.tp).toBe(2); // the edge and its direct edge
    expect(r.edges.fn).toBe(5);
    expect(r.edges.tp + r.edges.fp + r.edges.fn + r.edges.tn).toBe(305); // ACDC's redwood_attn_2l count
  });
});

describe('references', () => {
  it('reads a toy reference_circuit.json and aligns split and unsplit graphs', () => {
    const dir = `${SHARED}models/permute_lists`;
    const r = readReferenceFile(`${dir}/reference_circuit.json`);
    expect(r.edges.size).toBe(7);
    expect(r.splitEmbed).toBe(true);
    expect(r.edges.has('a0.h0->a1.h0<v>')).toBe(true);
    const cfg = resolveConfigJson(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')), 'config.json');
    const unsplit = layoutEdges(buildLayout(cfg, false));
    const a = align(['input->a0.h0<q>', 'a1.h0->logits'], unsplit, false, r);
    expect(a.merged).toBe(true);
    expect(a.reference).toEqual(mergeEmbed(r.edges));
    expect(a.universe.length).toBe(unsplit.length);
    expect(() => align([], unsplit, false, r, { nLayers: 12, nHeads: 12, attnOnly: false })).not.toThrow(); // r has no shape
    expect(() => align([], unsplit, false, { ...r, shape: { nLayers: 2, nHeads: 1, attnOnly: true } }, { nLayers: 12, nHeads: 12, attnOnly: false })).toThrow(/2 layers x 1 heads/);
  });
});

describe('MIB CPR / CMD', () => {
  it('sizes: floor(k N) like Python int(pct * n)', () => {
    expect(mibCounts(5)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 2, 5]);
    expect(mibCounts(19)).toEqual([0, 0, 0, 0, 0, 0, 1, 3, 9, 19]);
    expect(mibCounts(32491)).toEqual([32, 64, 162, 324, 649, 1624, 3249, 6498, 16245, 32491]);
  });

  it('areas by the trapezoid rule on the linear axis', () => {
    const one = mibArea(MIB_SIZES.map(() => 1));
    expect(one.cpr).toBeCloseTo(0.999, 12);
    expect(one.cmd).toBeCloseTo(0, 12);
    const f = [0, 0, 0, 0.1, 0.2, 0.5, 0.8, 0.9, 1.1, 1];
    let cpr = 0, cmd = 0;
    for (let i = 0; i < 9; i++) {
      const w = MIB_SIZES[i + 1] - MIB_SIZES[i];
      cpr += w * (f[i] + f[i + 1]) / 2;
      cmd += w * (Math.abs(1 - f[i]) + Math.abs(1 - f[i + 1])) / 2;
    }
    const a = mibArea(f);
    expect(a.cpr).toBeCloseTo(cpr, 12);
    expect(a.cmd).toBeCloseTo(cmd, 12);
    // by hand, interval by interval (widths .001 .003 .005 .01 .03 .05 .1 .3 .5)
    expect(a.cpr).toBeCloseTo(0 + 0 + 0.00025 + 0.0015 + 0.0105 + 0.0325 + 0.085 + 0.3 + 0.525, 12);
    expect(a.cmd).toBeCloseTo(0.001 + 0.003 + 0.00475 + 0.0085 + 0.0195 + 0.0175 + 0.015 + 0.03 + 0.025, 12);
    expect(() => mibArea([1, 2])).toThrow(/10 circuit sizes/);
    expect(() => mibArea(f, [...MIB_SIZES].reverse())).toThrow(/must not decrease/);
  });

  it('x-axis: the nominal size within budget, kept / N beyond it', () => {
    // N = 1000: budgets 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000; the first two overshoot
    const kept = [4, 4, 5, 9, 20, 61, 100, 200, 500, 1000];
    const x = mibAxis(kept, 1000);
    expect(x).toEqual([0.004, 0.004, 0.005, 0.01, 0.02, 0.061, 0.1, 0.2, 0.5, 1]);
    // an overshoot moves its point right: the area over the kept sizes, by hand for f = k-th index / 10
    const f = MIB_SIZES.map((_, i) => i / 10);
    let cpr = 0;
    for (let i = 0; i < 9; i++) cpr += (x[i + 1] - x[i]) * (f[i] + f[i + 1]) / 2;
    expect(mibArea(f, x).cpr).toBeCloseTo(cpr, 12);
    expect(mibAxis(MIB_SIZES.map(() => 0), 50)).toEqual([...MIB_SIZES]);
    expect(() => mibAxis([1], 10)).toThrow(/1 circuit sizes for 10 MIB sizes/);
  });

  it('ranks by signed importance or |score|, unscored last', () => {
    const edges = ['a', 'b', 'c', 'd'].map((x) => `input->${x}`);
    const s = new Map<string, number | null>([['input->a', -3], ['input->b', 2], ['input->c', null], ['input->d', 0.5]]);
    expect(rankEdges(edges, s, { absolute: true, sign: 1 })).toEqual(['input->a', 'input->b', 'input->d', 'input->c']);
    expect(rankEdges(edges, s, { absolute: false, sign: 1 })).toEqual(['input->b', 'input->d', 'input->a', 'input->c']);
    expect(rankEdges(edges, s, { absolute: false, sign: -1 })).toEqual(['input->a', 'input->d', 'input->b', 'input->c']);
    expect(importanceSign('eap')).toBe(-1);
    expect(importanceSign('acdc')).toBe(1);
  });

  it('circuits from scores are connected selections; from a sweep, the largest within each size', () => {
    const cfg = presetConfig('redwood-attn-2l');
    const all = layoutEdges(buildLayout(cfg, false));
    // a path input -> a0.h0<v>, a0.h0 -> logits and input -> logits on top, then edges by index
    const scores = new Map<string, number>(all.map((e, i) => [e, -i]));
    scores.set('input->a0.h0<v>', 100); scores.set('a0.h0->logits', 99); scores.set('input->logits', 98);
    const sel = mibSelections(all, scores, { absolute: false, sign: 1 });
    const cs = mibCircuitsFromScores(all, scores, { absolute: false, sign: 1 });
    expect(cs.map((c) => c.size)).toEqual(sel.map((s) => s.kept));
    // N = 257 (ACDC's 305 less 48 direct edges) -> budgets 0, 0, 1, 2, 5 edges: 1 edge needs
    // the best 2 (the lone head input alone is dangling): input -> a0.h0 -> logits; 5 edges need
    // 12: input->logits, input->a0.h0<q>, then the q inputs of a0.h1..h7 (dangling: those heads
    // reach no logits), then input->a0.h0<k>
    expect(all.length).toBe(257);
    expect(sel.slice(0, 5).map((s) => [s.asked, s.taken, s.kept])).toEqual([[0, 0, 0], [0, 0, 0], [1, 2, 2], [2, 2, 2], [5, 12, 5]]);
    expect([...cs[4]]).toEqual(['input->a0.h0<v>', 'a0.h0->logits', 'input->logits', 'input->a0.h0<q>', 'input->a0.h0<k>']);
    expect([...cs[2]]).toEqual(['input->a0.h0<v>', 'a0.h0->logits']);
    expect(cs[9].size).toBe(all.length);
    // an edge into a head that feeds nothing is never alone: the selection grows until the head reaches the logits
    const lone = new Map<string, number>([['input->a0.h0<q>', 10]]);
    const one = mibSelections(all, lone, { absolute: true, sign: 1 })[2]; // budget 1
    expect(one.kept).toBeGreaterThanOrEqual(1);
    expect(one.edges.has('input->a0.h0<q>') || one.taken > 1).toBe(true);
    expect(pruneDangling(one.edges).size).toBe(one.kept);
    const sweep = [new Set(['input->logits']), new Set(all.slice(0, 40)), new Set(all.slice(0, 100))];
    const m = mibCircuitsFromSweep(all, sweep);
    // N = 257 -> counts 0, 0, 1, 2, 5, 12, 25, 51, 128, 257
    expect(m.map((c) => c.size)).toEqual([0, 0, 1, 1, 1, 1, 1, 40, 100, 257]);
  });

  it('ranking ROC sizes cover 0..64 and the whole graph', () => {
    const s = rankingSizes(1000);
    expect(s.slice(0, 65)).toEqual(Array.from({ length: 65 }, (_, i) => i));
    expect(s[s.length - 1]).toBe(1000);
    expect(rankingSizes(5)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('criteria helpers and comparison', () => {
  const c = new Set(['input->a0.h1<q>', 'a0.h1->a1.h3<k>', 'a0.h1->m1', 'm1->logits', 'a1.h3->logits']);
  it('components and node removal', () => {
    expect(circuitComponents(c)).toEqual(['a0.h1', 'a1.h3', 'm1']);
    expect([...removeNodes(c, ['a0.h1'])].sort()).toEqual(['a1.h3->logits', 'm1->logits']);
    expect([...removeNodes(c, ['m1', 'a1.h3'])]).toEqual(['input->a0.h1<q>']);
    expect(removeNodes(c, []).size).toBe(5);
  });

  it('compare: shared and differing edges, merged embeddings', () => {
    const a = { name: 'A', file: null, edges: new Set(['tok->a0.h0<q>', 'pos->a0.h0<k>', 'a0.h0->logits']), splitEmbed: true };
    const b = { name: 'B', file: null, edges: new Set(['input->a0.h0<q>', 'a0.h0->logits', 'input->logits']), splitEmbed: false };
    const r = compareCircuits(a, b);
    expect(r.merged).toBe(true);
    expect(r.edges.shared).toEqual(['a0.h0->logits', 'input->a0.h0<q>']);
    expect(r.edges.onlyA).toEqual(['input->a0.h0<k>']);
    expect(r.edges.onlyB).toEqual(['input->logits']);
    expect(r.edges.jaccard).toBe(0.5);
    expect(r.nodes.jaccard).toBe(1);
    expect(r.warnings).toEqual([]); // no files: nothing to compare settings of
  });

  it('compare: circuits of different models / tasks / n are flagged, n shown', () => {
    const edges = [{ from: 'a0.h0', to: 'logits', score: 0.5, inCircuit: true }, { from: 'input', to: 'a0.h0<q>', score: -1e-7, inCircuit: true }];
    const file = (o: Partial<CircuitFile>): CircuitFile => ({
      format: 'circuitscope-circuit', version: 1, model: 'permute_lists', modelConfig: { nLayers: 1, nHeads: 1, dModel: 8, attnOnly: true },
      task: 'permute-lists', method: 'eap', threshold: 0.0031622776, topN: null, metric: 'logit_diff', ablation: 'resample', splitEmbed: false,
      n: 40, seed: 0, backend: 'wasm', processing: [], createdAt: '2024-01-01T00:00:00Z', nodes: [], edges,
      results: { metric: 'logit_diff', clean: 2, corrupted: -1, circuit: 1.5, faithfulness: 0.8333333, klCircuit: -3e-9, edgesKept: 2, edgesTotal: 3, seconds: 1.25, forwards: 1, backwards: 1 },
      ...o,
    });
    const src = (name: string, f: CircuitFile) => ({ name, file: f, edges: new Set(f.edges.map((e) => `${e.from}->${e.to}`)), splitEmbed: false });
    const same = compareCircuits(src('a.json', file({})), src('b.json', file({ method: 'acdc' })));
    expect(same.warnings).toEqual([]);
    expect(comparisonText(same)).not.toMatch(/warning/);
    const c = compareCircuits(src('a.json', file({})), src('b.json', file({ model: 'gpt2', task: 'ioi', n: 100, topN: 40, threshold: null })));
    expect(c.warnings).toEqual(['different model: A permute_lists, B gpt2', 'different task: A permute-lists, B ioi', 'different prompt count (n): A 40, B 100']);
    expect([c.a.n, c.b.n, c.a.seed]).toEqual([40, 100, 0]);
    expect(c.metrics.find((m) => m[0] === 'prompts (n)')).toEqual(['prompts (n)', 40, 100]);
    const text = comparisonText(c);
    expect(text.split('\n').slice(0, 5)).toEqual([
      'warning: different model: A permute_lists, B gpt2',
      'warning: different task: A permute-lists, B ioi',
      'warning: different prompt count (n): A 40, B 100',
      'A: a.json (2 edges, n=40, seed 0)',
      'B: b.json (2 edges, n=100, seed 0)',
    ]);
    // one number format: integers plain, thresholds as fmtThreshold, KL noise as 0
    expect(text).toMatch(/\n {2}top-n +— +40\n/);
    expect(text).toMatch(/\n {2}threshold +3\.16e-3 +—\n/);
    expect(text).toMatch(/\n {2}results\.klCircuit +0 +0\n/);
    expect(text).not.toMatch(/-0\b|40\.00/);
    expect(comparisonHtml(c, null)).toContain('Warning: different model: A permute_lists, B gpt2');
  });
});

describe('evaluation text', () => {
  const node = (n: string, drop: number, fc: number) => ({ node: n, removed: [], withNode: fc, withoutNode: fc - drop, drop, relative: drop / Math.abs(fc), normalised: drop / 3 });
  const evaluation = (fc: number): Evaluation => ({
    format: 'circuitscope-evaluation', version: 1,
    circuit: { task: 'ioi', model: 'gpt2', method: 'eap', ablation: 'mean', splitEmbed: false, edges: 40, edgesTotal: 32491 },
    batch: { n: 40, seed: 0 },
    faithfulness: { metric: 'logit_diff', ablation: 'mean', full: 3, empty: 0, circuit: fc, ratio: fc / 3, normalised: fc / 3, kl: -4e-9, edges: 40, edgesTotal: 32491, extras: [] },
    completeness: null,
    minimality: { circuit: fc, scale: 3, nodes: [node('a9.h9', 0.8069, fc)], least: null },
    curve: null, reference: null, circuitsRun: 3, seconds: 2.5,
  });

  it('one number format: no -0, integers plain, relative to F(C) n/a when F(C) is ~0', () => {
    const t = evaluationText(evaluation(2e-8));
    expect(t).toContain('40 of 32491 edges; mean ablation; 40 prompts (seed 0)');
    expect(t).toContain('F(M) 3, F(empty) 0, F(C) 2e-8; F(C)/F(M) 6.667e-9; normalised 6.667e-9; KL(clean||C) 0');
    expect(t).toMatch(/a9\.h9 +drop 0\.8069 +relative n\/a \(base ≈ 0\) +normalised 0\.269 /);
    expect(t).not.toMatch(/40344698|-0\.0000|\b40\.00\b/);
    const ok = evaluationText(evaluation(1.6));
    expect(ok).toMatch(/a9\.h9 +drop 0\.8069 +relative 0\.504 +normalised 0\.269 /);
    const html = evaluationSections(evaluation(2e-8), { nLayers: 12, nHeads: 12, attnOnly: false }, new Set()).join('\n');
    expect(html).toContain('<td>n/a (base ≈ 0)</td>');
    expect(html).not.toContain('4.034e7');
  });
});

describe('charts', () => {
  it('line chart and overlay SVGs are self-contained and escape text', () => {
    const svg = lineChartSvg({ title: 'ROC <a&b>', xLabel: 'x', yLabel: 'y', diagonal: true, xDomain: [0, 1], yDomain: [0, 1],
      series: [{ name: 's', points: [[0, 0], [0.5, 0.7], [1, 1]], step: true }, { name: 'p', points: [[NaN, 1], [0.2, 0.3]], line: false }] });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('ROC &lt;a&amp;b&gt;');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    expect(svg).toMatch(/d="M[\d.]+,[\d.]+ H[\d.]+ V[\d.]+/);
    expect((svg.match(/<circle/g) ?? []).length).toBe(4);
    const log = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', xLog: true, series: [{ name: 's', points: [[0, 1], [0.001, 0], [1, 1]] }] });
    expect(log).not.toMatch(/NaN|Infinity/);
    const ov = overlaySvg({ nLayers: 2, nHeads: 1, attnOnly: true }, new Set(['tok->a0.h0<q>', 'a0.h0->logits']), new Set(['a0.h0->logits', 'pos->a0.h0<k>']));
    expect(ov).toContain('stroke-dasharray'); // reference-only edge
    expect(ov).not.toMatch(/NaN|undefined|http:\/\/(?!www\.w3\.org)/);
    for (const n of ['tok', 'pos', 'a0.h0', 'logits']) expect(ov).toContain(`>${n}</text>`);
  });
});
