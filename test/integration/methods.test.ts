/**
 * Conformance over every registered discovery method (docs/methods.md): each runs through
 * `discover`, leaks no tensors, is deterministic (same circuit, scores equal to 1e-9), and on
 * the min_int toy model under zero ablation recovers the published circuit
 * (../shared/models/min_int/reference_circuit.json: tok -> a0.h0 <q>, <k>, <v> and
 * a0.h0 -> logits; the tok -> logits edge is constant there and excluded). Prune methods run at
 * their default threshold; score methods keep as many edges as the reference has.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { methods } from '../../src/discovery/registry.js';
import { discover } from '../../src/discovery/run.js';
import { circuitEdgeKeys } from '../../src/graph/circuit-file.js';
import { getTask } from '../../src/tasks/registry.js';
import { SHARED } from '../helpers.js';

let model: HookedTransformer;
const reference = (JSON.parse(readFileSync(`${SHARED}models/min_int/reference_circuit.json`, 'utf8')) as { circuit_edges: string[] })
  .circuit_edges.map((e) => e.replace(/\.(q|k|v)$/, '<$1>'));

beforeAll(async () => {
  await initBackend('wasm');
  model = (await loadModel(`${SHARED}models/min_int`, { quiet: true })).model;
});
afterAll(() => model?.dispose());

describe('every registered method', () => {
  it('the registry is not empty and names are unique', () => {
    const names = methods().map((m) => m.name);
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(new Set(names).size).toBe(names.length);
  });

  for (const m of methods()) {
    it(`${m.name}: runs, leaks nothing, is deterministic, recovers min_int's circuit (zero ablation)`, async () => {
      const task = getTask('min-int');
      const opts = { method: m.name, ablation: 'zero' as const, splitEmbed: true, n: 32, seed: 1, modelName: 'min_int', backend: 'wasm', ...(m.kind === 'score' ? { topN: reference.length } : {}) };
      const first = await discover(model, task, opts);
      first.evaluator.dispose();
      const before = tf.memory().numTensors;
      const again = await discover(model, task, opts);
      again.evaluator.dispose();
      expect(tf.memory().numTensors, `${m.name} leaked`).toBe(before);
      expect([...circuitEdgeKeys(again.file)].sort()).toEqual([...circuitEdgeKeys(first.file)].sort());
      for (const [e, v] of first.raw.scores) expect(Math.abs(again.raw.scores.get(e)! - v), e).toBeLessThan(1e-9);
      expect([...circuitEdgeKeys(first.file)].sort()).toEqual([...reference].sort());
      expect(first.file.results.faithfulness!).toBeGreaterThan(0.9);
    });
  }
});
