/**
 * Async all the way (issue 13): logits, activation and path patching, attention, direct logit
 * attribution, ACDC, EAP, EAP-IG (through `discover`, also chunked with --batch-size),
 * `evaluate` (faithfulness, completeness, minimality) and `sweep` run with synchronous tensor
 * reads forbidden: the tfjs engine's `readSync` (behind every dataSync / arraySync /
 * bufferSync) is wrapped to throw, as WebGPU's readback does in Node and a browser's main
 * thread must. Each result equals the same call's result with synchronous reads allowed (to
 * 1e-6 relative; they are the same kernels), so the guard changes nothing but the read path.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import { discover } from '../../src/discovery/run.js';
import { methods } from '../../src/discovery/registry.js';
import { evaluateCircuit, evaluatorFor } from '../../src/eval/evaluate.js';
import { sweep } from '../../src/eval/sweep.js';
import { patchBatchFromTask, preparePatching, runPatching } from '../../src/patching/activation.js';
import { attentionPatterns } from '../../src/analysis/attention.js';
import { directLogitAttribution } from '../../src/analysis/dla.js';
import { getTask } from '../../src/tasks/registry.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { expectSameNumbers } from '../helpers.js';

let model: HookedTransformer;
let batch: TaskBatch;
const task = getTask('ioi');
let forbid = false;
let restore: () => void = () => {};

/** Run `f` twice, with synchronous reads allowed and then forbidden; both results. */
async function bothWays<T>(f: () => Promise<T>): Promise<[T, T]> {
  const allowed = await f();
  forbid = true;
  try {
    return [allowed, await f()];
  } finally {
    forbid = false;
  }
}

/** Every number in two results agrees to 1e-6 relative (same shape, same keys; times excepted). */
const same = (a: unknown, b: unknown, path: string): void => expectSameNumbers(a, b, 1e-6, /seconds|createdAt/i, path);

beforeAll(async () => {
  await initBackend('wasm');
  model = (await loadModel('ioi-words', { quiet: true })).model;
  batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 12, seed: 3 });
  // the wrapper: every synchronous read of a tensor goes through the engine's readSync
  const engine = tf.engine() as unknown as { readSync: (id: object) => unknown };
  const readSync = engine.readSync.bind(engine);
  engine.readSync = (id: object) => {
    if (forbid) throw new Error('synchronous tensor read (dataSync / arraySync / bufferSync)');
    return readSync(id);
  };
  restore = () => { engine.readSync = readSync; };
});
afterAll(() => { restore(); model?.dispose(); });

describe('with synchronous reads forbidden', () => {
  it('the guard is live: dataSync throws, data() does not', async () => {
    const t = tf.tensor1d([1, 2, 3]);
    forbid = true;
    try {
      expect(() => t.dataSync()).toThrow(/synchronous tensor read/);
      expect(() => t.arraySync()).toThrow(/synchronous tensor read/);
      expect(Array.from(await t.data())).toEqual([1, 2, 3]);
    } finally {
      forbid = false;
      t.dispose();
    }
  });

  it('logits', async () => {
    const [a, b] = await bothWays(async () => {
      const l = model.forward(batch.clean);
      try { return await l.data(); } finally { l.dispose(); }
    });
    same(a, b, 'logits');
  });

  it('activation and path patching (patch)', async () => {
    const [a, b] = await bothWays(async () => runPatching(await preparePatching(model, patchBatchFromTask(batch))));
    expect(a.sweeps.length).toBeGreaterThan(0);
    same(a, b, 'patch');
  });

  it('attention patterns and direct logit attribution (attention, dla)', async () => {
    const [a, b] = await bothWays(() => attentionPatterns(model, batch.clean[0], [{ layer: 1, head: 0 }, { layer: 0, head: 2 }]));
    same(a, b, 'attention');
    const [c, d] = await bothWays(() => directLogitAttribution(model, { tokens: batch.clean, positions: batch.positions, answers: batch.answers, wrong: batch.wrong }));
    same(c, d, 'dla');
  });

  for (const m of methods()) {
    it(`${m.name}: discover, whole and in chunks of 5 rows`, async () => {
      for (const batchSize of [undefined, 5]) {
        const [a, b] = await bothWays(async () => {
          const r = await discover(model, task, { method: m.name, n: 12, seed: 3, steps: 3, trainSteps: 4, batchSize, speculate: 4, modelName: 'ioi-words', backend: 'wasm', ...(m.kind === 'score' ? { topN: 20 } : {}) });
          r.evaluator.dispose();
          return { results: r.file.results, edges: r.file.edges, scores: r.raw.scores };
        });
        expect(a.results.edgesKept).toBeGreaterThan(0);
        same(a, b, `${m.name} batch size ${batchSize}`);
      }
    });
  }

  it('evaluate (faithfulness, completeness, minimality) and sweep', async () => {
    const found = await discover(model, task, { method: 'acdc', threshold: 0.05, n: 12, seed: 3, modelName: 'ioi-words', backend: 'wasm' });
    found.evaluator.dispose();
    const [a, b] = await bothWays(async () => {
      const ev = await evaluatorFor(model, task, found.file, {});
      try { return await evaluateCircuit(ev, found.file, { criteria: true, reference: null }); } finally { ev.dispose(); }
    });
    same(a, b, 'evaluate');
    const [c, d] = await bothWays(() => sweep(model, task, { method: 'acdc', thresholds: [0.02, 0.2], n: 12, seed: 3, modelName: 'ioi-words', backend: 'wasm' }));
    expect(c.points.length).toBe(2);
    same(c, d, 'sweep');
  });
});
