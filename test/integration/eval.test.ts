/**
 * Evaluation on the toy models of ../shared/models (split embedding, their published circuits),
 * every number checked against the slow hooked oracle (test/oracle.ts) or against the toy README:
 * - the evaluator's metric, KL and accuracy for the full graph, the empty circuit, the published
 *   circuit and random circuits equal the oracle's under zero, resample and mean ablation
 *   (1e-4 relative, TOL.model);
 * - known answers: the published circuits' accuracies from the README (sort 0.717 under zero
 *   ablation and 0.995 with pos->a0.h0<v>; permute 0.866 zero, 0.989 mean, 0.997 with
 *   a0.h0->a1.h0<q>; min_int and majority 1.0), within sampling error;
 * - completeness and minimality: every subset score equals |F(C\K) - F(M\K)| and
 *   |F(C\(K+v)) - F(C\K)| from the oracle, with node removal written out independently here;
 * - sweeps: ACDC over thresholds and EAP-IG top-n on permute_lists: each point's TPR/FPR recounted
 *   from its circuit, the pessimistic AUC recomputed as the integral of max{TPR : FPR <= x},
 *   faithfulness and MIB's CPR/CMD from oracle metrics and hand trapezoids;
 * - measured once: discover's results and its report come from the one evaluator discover hands
 *   back (same numbers, exactly), which the report leaves alive for its caller;
 * - no tensors leak.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import { getTask } from '../../src/tasks/registry.js';
import type { Task, TaskBatch } from '../../src/tasks/types.js';
import { accuracy, klDivergence } from '../../src/tasks/metrics.js';
import { faithfulness } from '../../src/eval/criteria.js';
import { evaluateCircuit, metricEvaluator } from '../../src/eval/evaluate.js';
import { referenceFromTask } from '../../src/eval/reference.js';
import { sweep } from '../../src/eval/sweep.js';
import { reportSections } from '../../src/eval/report.js';
import { MIB_SIZES, mibCounts } from '../../src/eval/mib.js';
import { pruneDangling } from '../../src/graph/selection.js';
import { discover } from '../../src/discovery/run.js';
import { layoutEdges, buildLayout } from '../../src/graph/layout.js';
import { Rng } from '../../src/util/rng.js';
import { SHARED, TOL, expectNoLeak } from '../helpers.js';
import { oracleLogits, type OracleAblation } from '../oracle.js';

const models = new Map<string, HookedTransformer>();
const DIRS: Record<string, string> = { 'min-int': 'min_int', 'majority-element': 'majority_element', sort: 'sort_fixed_len_list', 'permute-lists': 'permute_lists' };

beforeAll(async () => {
  await initBackend('wasm');
  for (const [t, d] of Object.entries(DIRS)) models.set(t, (await loadModel(`${SHARED}models/${d}`, { quiet: true })).model);
});
afterAll(() => { for (const m of models.values()) m.dispose(); });

function batchFor(task: Task, model: HookedTransformer, n: number, seed = 0): TaskBatch {
  return task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n, seed });
}

function oracleAblation(kind: 'zero' | 'resample' | 'mean', b: TaskBatch): OracleAblation {
  return kind === 'zero' ? { kind: 'zero' } : kind === 'resample' ? { kind: 'resample', corrupt: b.corrupt } : { kind: 'mean', reference: b.corrupt };
}

/** The oracle's logits at the batch's metric positions [B, K, V]. */
function oracleAt(model: HookedTransformer, b: TaskBatch, ab: OracleAblation, edges: Iterable<string>): tf.Tensor3D {
  const logits = oracleLogits(model, b.clean, ab, new Set(edges), true);
  const at = tf.tidy(() => tf.stack(b.positions[0].map((p) => tf.squeeze(tf.slice(logits, [0, p, 0], [-1, 1, -1]), [1])), 1) as tf.Tensor3D);
  logits.dispose();
  return at;
}

function oracleMetric(model: HookedTransformer, task: Task, b: TaskBatch, ab: OracleAblation, edges: Iterable<string>): number {
  const at = oracleAt(model, b, ab, edges);
  const v = tf.tidy(() => task.metric(at, b).dataSync()[0]);
  at.dispose();
  return v;
}

const rel = (x: number) => TOL.model * Math.max(1, Math.abs(x));

/** Independent node removal: drop edges whose sender or receiver's head/MLP is in K. */
function without(edges: Iterable<string>, k: readonly string[]): string[] {
  return [...edges].filter((e) => { const [s, r] = e.split('->'); return !k.includes(s) && !k.includes(r.replace(/<[qkv]>$/, '')); });
}

/** Independent pessimistic AUC: the integral of max{TPR : FPR <= x} over [0, 1]. */
function integralAuc(points: { fpr: number; tpr: number }[]): number {
  const xs = [...new Set([0, 1, ...points.map((p) => p.fpr)])].sort((a, b) => a - b);
  let area = 0;
  for (let i = 0; i + 1 < xs.length; i++) area += (xs[i + 1] - xs[i]) * Math.max(0, ...points.filter((p) => p.fpr <= xs[i]).map((p) => p.tpr));
  return area;
}

describe('evaluator vs the hooked oracle', () => {
  for (const ab of ['zero', 'resample', 'mean'] as const) {
    it(`permute_lists, ${ab} ablation: metric, KL and accuracy of five circuits`, async () => {
      const model = models.get('permute-lists')!, task = getTask('permute-lists');
      const b = batchFor(task, model, 24, 3);
      const ref = referenceFromTask(task)!;
      const all = layoutEdges(buildLayout(model.cfg, true));
      const rng = new Rng(11);
      const circuits = [all, [], [...ref.edges], [...ref.edges].filter((e) => e !== 'a0.h0->a1.h0<v>'), all.filter(() => rng.next() < 0.5)];
      const ev = await metricEvaluator(model, task, b, { ablation: ab, splitEmbed: true, chunk: 2 });
      try {
        const ms = await ev.evaluate(circuits);
        const clean = oracleAt(model, b, oracleAblation(ab, b), all);
        circuits.forEach((c, i) => {
          const at = oracleAt(model, b, oracleAblation(ab, b), c);
          const [m, kl, acc] = tf.tidy(() => [task.metric(at, b), klDivergence(clean, at), accuracy(at, b.answers)].map((t) => t.dataSync()[0]));
          at.dispose();
          expect(Math.abs(ms[i].metric - m), `circuit ${i} metric`).toBeLessThan(rel(m));
          expect(Math.abs(ms[i].kl - kl), `circuit ${i} KL`).toBeLessThan(rel(kl));
          // accuracy is an argmax: a near-tie may flip one of the B*K predictions between two float paths
          expect(Math.abs(ms[i].extras.accuracy - acc), `circuit ${i} accuracy`).toBeLessThanOrEqual(1 / (b.clean.length * b.positions[0].length) + 1e-6);
        });
        clean.dispose();
        expect(ev.full.metric).toBe(ms[0].metric);
        expect(ev.empty.metric).toBe(ms[1].metric);
        expect(ms[0].kl).toBeLessThan(TOL.component);
        const f = await faithfulness(ev, ref.edges);
        expect(f.normalised!).toBeCloseTo((ms[2].metric - ms[1].metric) / (ms[0].metric - ms[1].metric), 10);
        expect(f.ratio!).toBeCloseTo(ms[2].metric / ms[0].metric, 10);
      } finally {
        ev.dispose();
      }
    });
  }

  it('min_int, resample: the evaluator and the discover pipeline agree with the oracle', async () => {
    const model = models.get('min-int')!, task = getTask('min-int');
    const b = batchFor(task, model, 40, 1);
    const { file, evaluator } = await discover(model, task, { method: 'acdc', threshold: 0.05, splitEmbed: true, ablation: 'resample', modelName: 'min_int', backend: 'wasm', batch: b });
    evaluator.dispose();
    const kept = file.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`);
    const ev = await metricEvaluator(model, task, b, { ablation: 'resample', splitEmbed: true });
    try {
      const e = await evaluateCircuit(ev, file, { criteria: false });
      const o = oracleMetric(model, task, b, oracleAblation('resample', b), kept);
      expect(Math.abs(e.faithfulness!.circuit - o)).toBeLessThan(rel(o));
      expect(e.faithfulness!.normalised!).toBeCloseTo(file.results.faithfulness!, 5);
    } finally {
      ev.dispose();
    }
  });

  it('no tensors leak', async () => {
    const model = models.get('min-int')!, task = getTask('min-int');
    const b = batchFor(task, model, 16);
    await expectNoLeak(async () => {
      const ev = await metricEvaluator(model, task, b, { ablation: 'mean', splitEmbed: true, chunk: 1 });
      await ev.evaluate([[], ['tok->a0.h0<v>', 'a0.h0->logits']]);
      ev.dispose();
    }, 'evaluator');
    // sweeps free every evaluator discover hands them (one per ACDC threshold, one for a scoring run)
    for (const method of ['acdc', 'eap']) {
      await expectNoLeak(() => sweep(model, task, { method, thresholds: method === 'acdc' ? [0.01, 1] : undefined, topN: method === 'acdc' ? undefined : [0, 3], ablation: 'zero', n: 16, splitEmbed: true, modelName: 'min_int', backend: 'wasm' }), `${method} sweep`);
    }
  });
});

describe('measured once: discover, its results and its report share one evaluator', () => {
  it('min_int, zero: the report reuses the evaluator as is and leaves it to the caller', async () => {
    const model = models.get('min-int')!, task = getTask('min-int');
    const b = batchFor(task, model, 24, 3);
    const { file, evaluator } = await discover(model, task, { method: 'acdc', threshold: 0.05, splitEmbed: true, ablation: 'zero', modelName: 'min_int', backend: 'wasm', batch: b });
    try {
      const { evaluation } = await reportSections(model, task, file, { evaluator });
      const f = evaluation.faithfulness!;
      expect(f.full).toBe(evaluator.full.metric);
      expect(f.empty).toBe(evaluator.empty.metric);
      expect(f.normalised).toBe(evaluator.normalise(f.circuit));
      // the file's results are the same measurements, through the same formula
      expect(file.results.clean).toBe(f.full);
      expect(file.results.corrupted).toBe(f.empty);
      expect(file.results.circuit).toBe(f.circuit);
      expect(file.results.faithfulness).toBe(f.normalised);
      expect(file.results.klCircuit).toBe(f.kl);
      // not disposed by the report: the caller owns it
      expect((await evaluator.evaluate([[]]))[0].metric).toBe(evaluator.empty.metric);
    } finally {
      evaluator.dispose();
    }
  });
});

describe("known answers: the toy models' published circuits (README accuracies)", () => {
  /** accuracy triples (model, empty, circuit) of the published circuit plus each extra edge set */
  const acc = async (t: string, ab: 'zero' | 'mean', n: number, extras: string[][] = [[]]) => {
    const model = models.get(t)!, task = getTask(t);
    const ev = await metricEvaluator(model, task, batchFor(task, model, n, 5), { ablation: ab, splitEmbed: true });
    try {
      const out = [];
      for (const x of extras) out.push((await faithfulness(ev, new Set([...referenceFromTask(task)!.edges, ...x]))).extras.find((m) => m.name === 'accuracy')!);
      return out;
    } finally { ev.dispose(); }
  };
  it('min_int and majority_element: the circuit alone is as accurate as the model', async () => {
    for (const t of ['min-int', 'majority-element']) for (const ab of ['zero', 'mean'] as const) {
      const [a] = await acc(t, ab, 64);
      expect(a.full).toBeGreaterThan(0.97);
      expect(a.circuit, `${t} ${ab}`).toBeGreaterThanOrEqual(a.full - 0.02);
      expect(a.empty).toBeLessThan(0.1);
    }
  });
  it('sort: 0.717 under zero ablation, 0.995 with pos->a0.h0<v>', async () => {
    const [a, b] = await acc('sort', 'zero', 64, [[], ['pos->a0.h0<v>']]);
    expect(a.circuit).toBeGreaterThan(0.66);
    expect(a.circuit).toBeLessThan(0.78);
    expect(b.circuit).toBeGreaterThan(0.98);
  });
  it('permute_lists: 0.866 zero, 0.989 mean, 0.997 mean with a0.h0->a1.h0<q>', async () => {
    const [z] = await acc('permute-lists', 'zero', 120);
    expect(z.circuit).toBeGreaterThan(0.82);
    expect(z.circuit).toBeLessThan(0.91);
    const [m, mq] = await acc('permute-lists', 'mean', 120, [[], ['a0.h0->a1.h0<q>']]);
    expect(m.circuit).toBeGreaterThan(0.97);
    expect(m.circuit).toBeLessThan(0.9999);
    expect(mq.circuit).toBeGreaterThan(m.circuit);
  });
});

describe('completeness and minimality vs the oracle', () => {
  it('permute_lists, zero ablation, the published circuit', async () => {
    const model = models.get('permute-lists')!, task = getTask('permute-lists');
    const b = batchFor(task, model, 24, 9);
    const ab = oracleAblation('zero', b);
    const all = layoutEdges(buildLayout(model.cfg, true));
    const ref = referenceFromTask(task)!;
    const ev = await metricEvaluator(model, task, b, { ablation: 'zero', splitEmbed: true });
    try {
      const file = {
        edges: all.map((e) => ({ from: e.split('->')[0], to: e.split('->')[1], score: null, inCircuit: ref.edges.has(e) })),
        method: 'hand', task: task.name, model: 'permute_lists', ablation: 'zero', splitEmbed: true, n: 24, seed: 9,
      };
      const e = await evaluateCircuit(ev, file, { samples: 4, greedySteps: 2 });
      const C = [...ref.edges];
      const F = (edges: Iterable<string>) => oracleMetric(model, task, b, ab, edges);
      const c = e.completeness!;
      expect(c.nodes).toEqual(['a0.h0', 'a1.h0']);
      expect(c.candidates.length).toBeGreaterThanOrEqual(3);
      for (const k of c.candidates) {
        const fc = F(without(C, k.removed)), fm = F(without(all, k.removed));
        expect(Math.abs(k.circuit - fc)).toBeLessThan(rel(fc));
        expect(Math.abs(k.model - fm)).toBeLessThan(rel(fm));
        expect(Math.abs(k.score - Math.abs(fc - fm))).toBeLessThan(2 * rel(fc));
      }
      expect(c.worst.score).toBe(Math.max(...c.candidates.map((k) => k.score)));
      const m = e.minimality!;
      expect(m.nodes.map((x) => x.node)).toEqual(['a0.h0', 'a1.h0']);
      const fC = F(C);
      for (const x of m.nodes) {
        const withK = F(without(C, x.removed)), withoutV = F(without(C, [...x.removed, x.node]));
        expect(Math.abs(x.withNode - withK)).toBeLessThan(rel(withK));
        expect(Math.abs(x.withoutNode - withoutV)).toBeLessThan(rel(withoutV));
        expect(x.relative!).toBeCloseTo(Math.abs(withK - withoutV) / Math.abs(fC), 3);
        // both heads are necessary: removing either loses most of the effect
        expect(x.normalised!).toBeGreaterThan(0.5);
      }
    } finally {
      ev.dispose();
    }
  });
});

describe('sweeps on permute_lists (zero ablation) vs independent computations', () => {
  const model = () => models.get('permute-lists')!;
  const task = getTask('permute-lists');

  function checkSweep(s: Awaited<ReturnType<typeof sweep>>, b: TaskBatch) {
    const ref = referenceFromTask(task)!.edges;
    const all = layoutEdges(buildLayout(model().cfg, true));
    const ab = oracleAblation('zero', b);
    const full = oracleMetric(model(), task, b, ab, all), empty = oracleMetric(model(), task, b, ab, []);
    expect(Math.abs(s.full - full)).toBeLessThan(rel(full));
    const pts = s.circuits.map((c, i) => {
      const tp = c.filter((e) => ref.has(e)).length, fp = c.length - tp;
      expect(s.points[i].edges).toBe(c.length);
      expect(s.points[i].tpr).toBeCloseTo(tp / ref.size, 12);
      expect(s.points[i].fpr).toBeCloseTo(fp / (all.length - ref.size), 12);
      return { fpr: fp / (all.length - ref.size), tpr: tp / ref.size };
    });
    expect(Math.abs(s.auc!.edge - integralAuc(pts))).toBeLessThan(TOL.exact);
    // faithfulness of two points from the oracle
    for (const i of [0, s.points.length - 1]) {
      const o = oracleMetric(model(), task, b, ab, s.circuits[i]);
      expect(Math.abs(s.points[i].faithfulness! - (o - empty) / (full - empty))).toBeLessThan(1e-3);
    }
    return { all, ab, full, empty };
  }

  it('ACDC thresholds: ROC points, AUC, faithfulness, CPR/CMD from the sweep circuits', async () => {
    const b = batchFor(task, model(), 32, 2);
    const s = await sweep(model(), task, { method: 'acdc', thresholds: [0.01, 1], ablation: 'zero', n: 32, seed: 2, splitEmbed: true, reference: referenceFromTask(task), modelName: 'permute_lists', backend: 'wasm' });
    expect(s.points.map((p) => p.threshold)).toEqual([0.01, 1]);
    const { all, ab, full, empty } = checkSweep(s, b);
    // MIB from the sweep: at each size the largest circuit within floor(k N) edges, the full graph at 100%
    const counts = mibCounts(all.length);
    const f = counts.map((n, i) => {
      const c = i === MIB_SIZES.length - 1 ? all : [...s.circuits].sort((x, y) => y.length - x.length).find((x) => x.length <= n) ?? [];
      return (oracleMetric(model(), task, b, ab, c) - empty) / (full - empty);
    });
    let cpr = 0, cmd = 0;
    for (let i = 0; i < 9; i++) { const w = MIB_SIZES[i + 1] - MIB_SIZES[i]; cpr += w * (f[i] + f[i + 1]) / 2; cmd += w * (Math.abs(1 - f[i]) + Math.abs(1 - f[i + 1])) / 2; }
    expect(s.mib!.from).toBe('sweep');
    expect(Math.abs(s.mib!.cpr - cpr)).toBeLessThan(1e-3);
    expect(Math.abs(s.mib!.cmd - cmd)).toBeLessThan(1e-3);
  });

  it('EAP-IG top-n: ROC of every size, AUC, CPR/CMD from the scores', async () => {
    const b = batchFor(task, model(), 32, 4);
    const s = await sweep(model(), task, { method: 'eap-ig', ablation: 'zero', n: 32, seed: 4, splitEmbed: true, reference: referenceFromTask(task), modelName: 'permute_lists', backend: 'wasm' });
    expect(s.points.map((p) => p.topN)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const { all, ab, full, empty } = checkSweep(s, b);
    // scores of the same discovery, recomputed; CPR ranks by -score (EAP: lower = more important), CMD by |score|
    const { file, evaluator } = await discover(model(), task, { method: 'eap-ig', topN: 0, ablation: 'zero', splitEmbed: true, modelName: 'permute_lists', backend: 'wasm', batch: b });
    evaluator.dispose();
    const sc = new Map(file.edges.map((e) => [`${e.from}->${e.to}`, e.score!]));
    const byKey = (k: (e: string) => number) => [...all].sort((x, y) => k(y) - k(x) || (x < y ? -1 : 1));
    const signed = byKey((e) => -sc.get(e)!), abs = byKey((e) => Math.abs(sc.get(e)!));
    // MIB's budgets, each a connected selection (naive: the shortest prefix whose pruned set
    // reaches the budget), placed at max(k, kept / N) on the x-axis
    const connected = (ranked: string[], n: number) => {
      for (let k = 0; ; k++) { const c = pruneDangling(ranked.slice(0, k)); if (c.size >= n || k === ranked.length) return c; }
    };
    const curve = (ranked: string[]) => mibCounts(all.length).map((n, i) => {
      const c = connected(ranked, n);
      return { f: (oracleMetric(model(), task, b, ab, c) - empty) / (full - empty), x: c.size > n ? c.size / all.length : MIB_SIZES[i], kept: c.size };
    });
    const cs = curve(signed), ca = curve(abs);
    const fs = cs.map((p) => p.f), fa = ca.map((p) => p.f), xs = cs.map((p) => p.x), xa = ca.map((p) => p.x);
    expect(s.mib!.edgesSigned).toEqual(cs.map((p) => p.kept));
    expect(s.mib!.edgesAbsolute).toEqual(ca.map((p) => p.kept));
    expect(s.mib!.edgesSigned.every((k, i) => k >= s.mib!.requested[i])).toBe(true);
    expect(s.mib!.axisSigned).toEqual(xs);
    expect(s.mib!.signed.map((x) => Number(x.toFixed(3)))).toEqual(fs.map((x) => Number(x.toFixed(3))));
    let cpr = 0, cmd = 0;
    for (let i = 0; i < 9; i++) { cpr += (xs[i + 1] - xs[i]) * (fs[i] + fs[i + 1]) / 2; cmd += (xa[i + 1] - xa[i]) * (Math.abs(1 - fa[i]) + Math.abs(1 - fa[i + 1])) / 2; }
    expect(Math.abs(s.mib!.cpr - cpr)).toBeLessThan(1e-3);
    expect(Math.abs(s.mib!.cmd - cmd)).toBeLessThan(1e-3);
    // a good ranking: the published circuit's edges come early
    expect(s.auc!.edge).toBeGreaterThan(0.8);
  });
});
