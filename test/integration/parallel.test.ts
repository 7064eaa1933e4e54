/**
 * Worker threads (src/parallel/): the prompts split between the main thread and two workers
 * give the single-thread engine's logits (TOL.model) for every subject and ablation, with
 * layer-resumed prefixes and separate runs; discovery through the pool gives the same circuit,
 * metrics (1e-5 relative) and scores (1e-5 of the largest, at least 1e-5: float32 sums in another
 * order) as one thread, for ACDC, EAP and
 * EAP-IG; workers' errors reach the caller with the worker named and leave the pool usable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import type { Ablation } from '../../src/patching/ablation.js';
import { ParallelEngine } from '../../src/parallel/engine.js';
import type { WorkerPool } from '../../src/parallel/pool.js';
import { startPool } from '../../src/parallel/node-threads.js';
import { makeObjective } from '../../src/patching/objective.js';
import { discover } from '../../src/discovery/run.js';
import { getTask } from '../../src/tasks/registry.js';
import { circuitEdgeKeys } from '../../src/graph/circuit-file.js';
import { Rng } from '../../src/util/rng.js';
import { SHARED, TOL, expectClose } from '../helpers.js';
import { disposeSubjects, patchingSubjects, type Subject } from '../subjects.js';

let subjects: Subject[] = [];
const pools = new Map<HookedTransformer, WorkerPool>();

beforeAll(async () => {
  await initBackend('wasm');
  subjects = await patchingSubjects(11);
  for (const m of new Set(subjects.map((s) => s.model))) pools.set(m, await startPool(m, { threads: 3, backend: 'wasm' }));
});
afterAll(() => {
  for (const p of pools.values()) p.close();
  disposeSubjects(subjects);
});

/** Both logits equal to TOL.model (the first may come as a promise); frees both. */
async function same(a: tf.Tensor | Promise<tf.Tensor>, b: tf.Tensor, what: string): Promise<void> {
  const x = await a;
  try { expectClose(x, b, TOL.model, what); } finally { tf.dispose([x, b]); }
}

function randomMask(e: PatchingEngine, rng: Rng): Float32Array {
  const m = e.fullMask();
  for (let i = 0; i < m.length; i++) if (m[i] === 1 && rng.next() < 0.5) m[i] = 0;
  return m;
}

describe('ParallelEngine', () => {
  it('splits the rows across threads and gives the one-thread logits', async () => {
    const rng = new Rng(3);
    for (const s of subjects) {
      const ablations: Ablation[] = [{ kind: 'resample', corrupt: s.corrupt }, { kind: 'zero' }, { kind: 'mean', reference: s.corrupt }];
      for (const ab of ablations) {
        const what = `${s.name} ${ab.kind}`;
        const one = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed });
        const par = new ParallelEngine(pools.get(s.model)!, s.model, s.clean, ab, { splitEmbed: s.splitEmbed, batchSize: 1 });
        try {
          expect(par.sizes.length, what).toBe(3); // main thread + 2 workers
          expect(par.sizes.reduce((a, b) => a + b, 0)).toBe(s.clean.length);
          const masks = [randomMask(one, rng), randomMask(one, rng), one.fullMask()];
          const before = tf.memory().numTensors;
          await same(par.run(masks), one.run(masks), `${what}: batched`);
          await same(par.run(masks, { separately: true }), one.run(masks), `${what}: separately`);
          await same(par.cleanLogits(), one.cleanLogits(), `${what}: clean logits`);
          // layer-resumed: a prefix of masks[0] up to the stage of the last layer's first receiver
          const stage = one.stageOfRow(one.layout.attnRow(s.model.cfg.nLayers - 1));
          const pp = await par.prefix(masks[0], stage), po = one.prefix(masks[0], stage);
          await same(par.run([masks[0]], { from: pp }), one.run([masks[0]], { from: po }), `${what}: resumed`);
          pp.dispose(); po.dispose();
          expect(tf.memory().numTensors, `${what}: main-thread tensors`).toBe(before);
          expect(par.fullForwardFlops()).toBeCloseTo(one.fullForwardFlops(), 0);
        } finally {
          one.dispose(); par.dispose();
        }
      }
    }
  });

  it('reports a worker\'s error naming the worker, and the pool stays usable', async () => {
    const s = subjects[0];
    const pool = pools.get(s.model)!;
    await expect(pool.request(1, { op: 'run', id: 987654, masks: [] })).rejects.toThrow(/worker 2: no engine 987654/);
    const par = new ParallelEngine(pool, s.model, s.clean, { kind: 'zero' }, {});
    try {
      const bad = new Float32Array(5);
      await expect(par.run([bad])).rejects.toThrow(/mask has 5 entries/);
      const one = new PatchingEngine(s.model, s.clean, { kind: 'zero' });
      await same(par.run([one.fullMask()]), one.run([one.fullMask()]), 'after errors');
      one.dispose();
      const cl = tf.zeros([s.clean.length, 1, 4]) as tf.Tensor3D;
      const objective = makeObjective('task', { metricName: 'mean', metric: (l) => tf.mean(l) as tf.Scalar }, { clean: s.clean, corrupt: s.corrupt, positions: s.clean.map(() => [0]), answers: [], wrong: [] }, cl);
      cl.dispose();
      await expect(par.attribute(objective, [1])).rejects.toThrow(/without a task spec/);
      objective.dispose();
    } finally {
      par.dispose();
    }
  });
});

describe('discovery with worker threads', () => {
  const cases = [
    { task: 'permute-lists', model: `${SHARED}models/permute_lists`, splitEmbed: true, n: 24, threshold: 0.05 },
    { task: 'ioi', model: 'ioi-words', splitEmbed: false, n: 16, threshold: 0.01 },
  ];
  for (const c of cases) {
    it(`${c.task}: ACDC, EAP and EAP-IG give the one-thread circuit, metrics and scores`, async () => {
      const model = (await loadModel(c.model, { quiet: true })).model;
      const pool = await startPool(model, { threads: 2, backend: 'wasm', task: { task: c.task } });
      try {
        const task = getTask(c.task);
        for (const method of ['acdc', 'eap', 'eap-ig']) {
          const opts = { method, threshold: method === 'acdc' ? c.threshold : undefined, topN: method === 'acdc' ? undefined : 10, steps: 3, splitEmbed: c.splitEmbed, n: c.n, modelName: c.task, backend: 'wasm' };
          const r1 = await discover(model, task, opts);
          r1.evaluator.dispose();
          const one = r1.file;
          const before = tf.memory().numTensors;
          const r2 = await discover(model, task, { ...opts, pool, batchSize: 5 });
          r2.evaluator.dispose();
          const par = r2.file;
          expect(tf.memory().numTensors, `${method}: main-thread tensors`).toBe(before);
          expect([...circuitEdgeKeys(par)].sort(), method).toEqual([...circuitEdgeKeys(one)].sort());
          for (const k of ['clean', 'corrupted', 'circuit', 'klCircuit'] as const) {
            expect(Math.abs(par.results[k] - one.results[k]), `${method} ${k}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(one.results[k])));
          }
          const maxAbs = Math.max(...one.edges.map((e) => Math.abs(e.score ?? 0)));
          expect(maxAbs).toBeGreaterThan(0);
          one.edges.forEach((e, i) => expect(Math.abs((par.edges[i].score ?? 0) - (e.score ?? 0)), `${method} ${e.from}->${e.to}`).toBeLessThan(1e-5 * Math.max(1, maxAbs)));
        }
      } finally {
        pool.close();
        model.dispose();
      }
    });
  }
});
