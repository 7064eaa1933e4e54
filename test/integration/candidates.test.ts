/**
 * ACDC over candidates (`--candidates METHOD:K`, src/discovery/acdc.ts; the EAP paper's "ACDC++"):
 * - K = every edge (as `all` and as the number) is plain ACDC: the same circuit and the same
 *   scores (to 1e-12: the same forwards) on min_int (zero ablation) and on ioi-words (IOI,
 *   resample ablation).
 * - With a small K only candidates are tested: the trace holds K edges or fewer, all
 *   candidates, the circuit lies inside them, other edges have no score, progress counts K,
 *   and the circuit file records the candidate set; on min_int `eap-ig:4` gives the published
 *   circuit.
 * - The K best are the scoring method's top K by |score| (checked against EAP-IG run alone).
 * - Checkpoints: the key holds the candidate setting (another setting is refused), and an
 *   interrupted run resumed from its checkpoint ends with the same circuit and scores.
 * - K's syntax: integers, fractions below 1 (rounded, at least 1), `all`; bad specs throw one line.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { discover, type DiscoverOptions } from '../../src/discovery/run.js';
import { parseCandidates } from '../../src/discovery/acdc.js';
import { methodFlags } from '../../src/discovery/registry.js';
import type { CheckpointStore, Progress } from '../../src/discovery/types.js';
import { circuitEdgeKeys } from '../../src/graph/circuit-file.js';
import { getTask } from '../../src/tasks/registry.js';
import { SHARED } from '../helpers.js';

let minInt: HookedTransformer;
let ioiWords: HookedTransformer;
const reference = (JSON.parse(readFileSync(`${SHARED}models/min_int/reference_circuit.json`, 'utf8')) as { circuit_edges: string[] })
  .circuit_edges.map((e) => e.replace(/\.(q|k|v)$/, '<$1>'));

beforeAll(async () => {
  await initBackend('wasm');
  minInt = (await loadModel(`${SHARED}models/min_int`, { quiet: true })).model;
  ioiWords = (await loadModel('ioi-words', { quiet: true })).model;
});
afterAll(() => { minInt?.dispose(); ioiWords?.dispose(); });

const minIntOpts: DiscoverOptions = { method: 'acdc', ablation: 'zero', splitEmbed: true, n: 32, seed: 1, modelName: 'min_int', backend: 'wasm' };
const ioiOpts: DiscoverOptions = { method: 'acdc', threshold: 0.02, n: 12, seed: 3, modelName: 'ioi-words', backend: 'wasm' };

async function run(model: HookedTransformer, task: string, opts: DiscoverOptions) {
  const out = await discover(model, getTask(task), opts);
  out.evaluator.dispose();
  return out;
}

function expectSameRun(a: Awaited<ReturnType<typeof run>>, b: Awaited<ReturnType<typeof run>>, what: string): void {
  expect([...circuitEdgeKeys(b.file)].sort(), `${what}: circuit`).toEqual([...circuitEdgeKeys(a.file)].sort());
  expect(b.raw.scores.size, `${what}: scored edges`).toBe(a.raw.scores.size);
  for (const [e, v] of a.raw.scores) expect(Math.abs(b.raw.scores.get(e)! - v), `${what}: ${e}`).toBeLessThan(1e-12);
  expect(b.raw.trace.map((t) => t.edge), `${what}: order`).toEqual(a.raw.trace.map((t) => t.edge));
}

describe('ACDC over candidates', () => {
  it('is an ACDC option (a string)', () => {
    expect(methodFlags('acdc')).toContain('candidates');
  });

  it('K = every edge is plain ACDC: same circuit and scores on min_int and ioi-words', async () => {
    for (const [model, task, opts] of [[minInt, 'min-int', minIntOpts], [ioiWords, 'ioi', ioiOpts]] as const) {
      const plain = await run(model, task, opts);
      const total = plain.file.results.edgesTotal;
      for (const spec of ['eap-ig:all', `eap:${total}`]) {
        const cand = await run(model, task, { ...opts, candidates: spec });
        expectSameRun(plain, cand, `${task} ${spec}`);
        expect(cand.file.results.candidates).toMatchObject({ method: spec.split(':')[0], k: total });
        expect(cand.file.results.faithfulness).toBeCloseTo(plain.file.results.faithfulness!, 10);
      }
    }
  });

  it("tests only the K best candidates; eap-ig:4 gives min_int's published circuit", async () => {
    const progress: Progress[] = [];
    const out = await run(minInt, 'min-int', { ...minIntOpts, candidates: 'eap-ig:4', onProgress: (p) => progress.push(p) });
    expect([...circuitEdgeKeys(out.file)].sort()).toEqual([...reference].sort());
    expect(out.file.results.candidates).toMatchObject({ method: 'eap-ig', k: 4 });
    expect(out.raw.trace.length).toBeLessThanOrEqual(4);
    expect(out.raw.scores.size).toBe(out.raw.trace.length);
    // the candidates are EAP-IG's top 4 by |score|
    const alone = await run(minInt, 'min-int', { ...minIntOpts, method: 'eap-ig', metric: 'task', topN: 4 });
    const top4 = [...alone.raw.scores].sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 4).map(([e]) => e);
    for (const t of out.raw.trace) expect(top4).toContain(t.edge);
    for (const e of circuitEdgeKeys(out.file)) expect(top4).toContain(e);
    const acdcSteps = progress.filter((p) => p.note === undefined);
    expect(acdcSteps.length).toBeGreaterThan(0);
    for (const p of acdcSteps) expect(p.total).toBe(4);
    expect(acdcSteps.at(-1)!.done).toBe(4);
  });

  it('a fraction of the edges on ioi-words: the circuit lies inside the candidates', async () => {
    const out = await run(ioiWords, 'ioi', { ...ioiOpts, candidates: 'eap-ig:0.1' });
    const total = out.file.results.edgesTotal;
    const k = out.file.results.candidates!.k; // at least 10% on input-to-logits paths
    expect(out.file.results.candidates!.method).toBe('eap-ig');
    expect(k).toBeGreaterThanOrEqual(Math.round(0.1 * total));
    expect(k).toBeLessThan(0.2 * total);
    expect(out.raw.trace.length).toBeLessThanOrEqual(k);
    const tested = new Set(out.raw.trace.map((t) => t.edge));
    // every edge in the circuit was a candidate that ACDC tested and kept (untested ones could only
    // be candidates into dead nodes, which are removed)
    for (const e of circuitEdgeKeys(out.file)) expect(tested.has(e), e).toBe(true);
    expect(out.file.results.edgesKept).toBeGreaterThan(0);
  });

  it('checkpoints hold the candidate setting; a resumed run ends the same', async () => {
    const memory = (): CheckpointStore & { text: string | null; saves: number; failAt: number } => {
      const s = {
        name: 'memory', text: null as string | null, saves: 0, failAt: Infinity,
        load: async () => s.text,
        save: async (t: string) => { if (++s.saves >= s.failAt) throw new Error('interrupted'); s.text = t; },
      };
      return s;
    };
    const opts = { ...ioiOpts, candidates: 'eap:0.2' };
    const whole = await run(ioiWords, 'ioi', opts);
    const store = memory();
    store.failAt = 6;
    await expect(run(ioiWords, 'ioi', { ...opts, checkpoint: store })).rejects.toThrow('interrupted');
    expect(JSON.parse(store.text!).key).toContain('"candidates":"eap:0.2"');
    await expect(run(ioiWords, 'ioi', { ...opts, candidates: 'eap:0.3', checkpoint: store, resume: true })).rejects.toThrow(/belongs to another run/);
    store.failAt = Infinity;
    const resumed = await run(ioiWords, 'ioi', { ...opts, checkpoint: store, resume: true });
    expectSameRun(whole, resumed, 'resumed');
  });

  it("K's syntax", () => {
    expect(parseCandidates('eap-ig:200', 1000)).toEqual({ method: 'eap-ig', k: 200 });
    expect(parseCandidates('eap:0.05', 1000)).toEqual({ method: 'eap', k: 50 });
    expect(parseCandidates('eap-ig-activations:0.0001', 1000)).toEqual({ method: 'eap-ig-activations', k: 1 });
    expect(parseCandidates('eap-ig-inputs:all', 1000)).toEqual({ method: 'eap-ig-inputs', k: 1000 });
    expect(parseCandidates('eap:5000', 1000)).toEqual({ method: 'eap', k: 1000 });
    for (const bad of ['acdc:10', 'eap', 'eap:', 'eap:0', 'eap:-3', 'eap:1.5', 'eap:x']) expect(() => parseCandidates(bad, 1000), bad).toThrow(/^acdc: --candidates/);
  });
});
