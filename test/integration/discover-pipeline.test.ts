/**
 * The discovery pipeline end to end on permute_lists (inline task, so this file does not depend
 * on the task registry): the circuit file's numbers equal an independent evaluation through the
 * hooked oracle (1e-5 relative), the DOT and HTML contain every kept edge, MIB JSON round-trips.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { discover } from '../../src/discovery/run.js';
import { circuitEdgeKeys, readCircuitJson, toDot, toMib } from '../../src/graph/circuit-file.js';
import { circuitHtml } from '../../src/report/circuit-html.js';
import { permuteLists } from '../../src/tasks/toy/generators.js';
import { answerLogProb } from '../../src/tasks/metrics.js';
import type { Task, TaskBatch } from '../../src/tasks/types.js';
import { IdTokenizer } from '../../src/model/tokenizer.js';
import { SHARED } from '../helpers.js';
import { oracleLogits } from '../oracle.js';

let model: HookedTransformer;
let batch: TaskBatch;
const task: Task = {
  name: 'permute-inline', description: 'permute lists (test)', defaultModel: 'x', fallbackModel: null, metricName: 'logprob',
  build: () => batch,
  metric: (l, b) => answerLogProb(l, b.answers),
};

beforeAll(async () => {
  await initBackend('wasm');
  model = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
  const a = permuteLists(24, 3), b = permuteLists(24, 4);
  batch = { clean: a.tokens, corrupt: b.tokens, positions: a.tokens.map(() => a.positions), answers: a.labels, wrong: a.labels.map((r) => r.map(() => [])) };
});
afterAll(() => model?.dispose());

function oracleMetric(edges: Set<string>): number {
  const logits = oracleLogits(model, batch.clean, { kind: 'resample', corrupt: batch.corrupt }, edges, true);
  const v = tf.tidy(() => {
    const at = tf.stack(batch.positions[0].map((p) => tf.squeeze(tf.slice(logits, [0, p, 0], [-1, 1, -1]), [1])), 1) as tf.Tensor3D;
    return answerLogProb(at, batch.answers).dataSync()[0];
  });
  logits.dispose();
  return v;
}

describe('discover pipeline', () => {
  it('--batch-size chunking gives the same circuit, scores and metrics', async () => {
    for (const method of ['acdc', 'eap', 'eap-ig']) {
      const opts = { method, threshold: method === 'acdc' ? 0.05 : undefined, topN: method === 'acdc' ? undefined : 8, splitEmbed: true, modelName: 'p', backend: 'wasm', tokenizer: new IdTokenizer(53), batch };
      const w = await discover(model, task, opts);
      w.evaluator.dispose();
      const whole = w.file;
      const before = tf.memory().numTensors;
      const c = await discover(model, task, { ...opts, batchSize: 7 }); // 24 rows -> 7, 7, 7, 3 (attribution: streamed)
      c.evaluator.dispose();
      const chunked = c.file;
      expect(tf.memory().numTensors, `${method} chunked leaks`).toBe(before);
      expect([...circuitEdgeKeys(chunked)].sort(), method).toEqual([...circuitEdgeKeys(whole)].sort());
      for (const k of ['clean', 'corrupted', 'circuit'] as const) {
        expect(Math.abs(chunked.results[k] - whole.results[k]), `${method} ${k}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(whole.results[k])));
      }
      const maxAbs = Math.max(...whole.edges.map((e) => Math.abs(e.score ?? 0)));
      whole.edges.forEach((e, i) => expect(Math.abs((chunked.edges[i].score ?? 0) - (e.score ?? 0))).toBeLessThan(1e-5 * Math.max(1, maxAbs)));
    }
  });

  for (const method of ['acdc', 'eap', 'eap-ig']) {
    it(`${method}: results agree with the oracle; outputs hold every kept edge`, async () => {
      const { file, evaluator } = await discover(model, task, {
        method, threshold: method === 'acdc' ? 0.05 : undefined, topN: method === 'acdc' ? undefined : 8,
        splitEmbed: true, modelName: 'permute_lists', backend: 'wasm', tokenizer: new IdTokenizer(53), batch,
      });
      evaluator.dispose();
      const kept = circuitEdgeKeys(file);
      expect(kept.size).toBe(file.results.edgesKept);
      expect(file.results.edgesTotal).toBe(19);
      const tol = (x: number) => 1e-5 * Math.max(1, Math.abs(x));
      const clean = oracleMetric(new Set(file.edges.map((e) => `${e.from}->${e.to}`)));
      const empty = oracleMetric(new Set());
      const circ = oracleMetric(kept);
      expect(Math.abs(file.results.clean - clean)).toBeLessThan(tol(clean));
      expect(Math.abs(file.results.corrupted - empty)).toBeLessThan(tol(empty));
      expect(Math.abs(file.results.circuit - circ)).toBeLessThan(tol(circ));
      expect(Math.abs(file.results.faithfulness! - (circ - empty) / (clean - empty))).toBeLessThan(1e-4);
      const dot = toDot(file);
      for (const e of kept) { const [s, r] = e.split('->'); expect(dot).toContain(`"${s}" -> "${r.replace(/<[qkv]>$/, '')}"`); }
      const html = circuitHtml(file);
      expect(html).toContain('<svg');
      for (const e of kept) expect(html).toContain(e.split('->')[0]);
      const back = readCircuitJson(JSON.parse(JSON.stringify(toMib(file))), 'mib');
      expect(new Set(back.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`))).toEqual(kept);
    });
  }
});
