/**
 * Discovery on the webgpu backend (SwiftShader where there is no GPU): the edge-masked forward
 * equals the wasm engine's on random circuits (layer-resumed too); ACDC finds the same circuit
 * as on wasm on permute-lists (resample) and min-int (zero ablation), with speculative batches;
 * EAP and EAP-IG scores equal wasm's, on the shipped ioi-words model, a toy model and the GPT-2
 * fixture's shape (its real 50,257-token vocabulary); 100 patched evaluations leak no tensor; `circuitscope discover
 * --backend webgpu` runs end to end (ACDC with a checkpoint, chunked rows) and writes the wasm
 * circuit.
 *
 * Tolerances (measured here, see TOL below): logits of patched runs as the forward suite's
 * vsWasm; scores to 1e-4 of the largest |score| (the gradients sum in other orders); ACDC's
 * decisions compare metric changes with a threshold, and none of these runs has a change
 * within 1e-4 of it, so the circuits are identical; the top-n cuts of the score methods fall
 * where the wasm scores have a gap far above that tolerance (ioi-words EAP: 8th/9th 0.270 vs
 * 0.226; permute-lists EAP-IG: 4th/5th 9.1 vs 0.66; the fixture's 20th/21st: 0.163 vs 0.143, 0.158 vs 0.142).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import { discover, type DiscoverOptions } from '../../src/discovery/run.js';
import { circuitEdgeKeys, type CircuitFile } from '../../src/graph/circuit-file.js';
import { getTask } from '../../src/tasks/registry.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { Rng } from '../../src/util/rng.js';
import { SHARED, runCli } from '../helpers.js';
import { FIXTURE_MODEL } from '../fixture.js';
import { expectNoLeakOver, expectWithin, host, reportDiffs, webgpuGate } from './gpu.js';

const TOL = {
  /** patched logits: measured max |diff| vs wasm 1.5e-5 at max |logit| 44 (3.5e-7 relative; permute_lists) */
  logits: { abs: 1e-5, rel: 5e-6 },
  /** edge scores, relative to the largest |score|: measured 1.5e-6 (EAP), 8.5e-7 (EAP-IG), 7.8e-8 (ACDC's metric changes) */
  scores: 1e-4,
};

const gate = webgpuGate();

interface Job { name: string; task: string; model: string; opts: Partial<DiscoverOptions> }
const JOBS: Job[] = [
  { name: 'permute-lists acdc', task: 'permute-lists', model: `${SHARED}models/permute_lists`, opts: { method: 'acdc', threshold: 0.05, splitEmbed: true, speculate: 8 } },
  { name: 'min-int acdc (zero)', task: 'min-int', model: `${SHARED}models/min_int`, opts: { method: 'acdc', ablation: 'zero', splitEmbed: true, speculate: 8 } },
  // (EAP on the confident toy models scores ~1e-6: their log-prob gradients vanish; ioi-words' logit difference does not)
  { name: 'ioi-words eap', task: 'ioi', model: 'ioi-words', opts: { method: 'eap', topN: 8 } },
  { name: 'permute-lists eap-ig (chunks of 3)', task: 'permute-lists', model: `${SHARED}models/permute_lists`, opts: { method: 'eap-ig', steps: 3, topN: 4, splitEmbed: true, batchSize: 3 } },
  { name: 'GPT-2 fixture eap (ioi)', task: 'ioi', model: FIXTURE_MODEL, opts: { method: 'eap', topN: 20, n: 4 } },
  { name: 'GPT-2 fixture eap-ig (ioi)', task: 'ioi', model: FIXTURE_MODEL, opts: { method: 'eap-ig', steps: 2, topN: 20, n: 4 } },
];

interface Found { file: CircuitFile; scores: Map<string, number> }

async function run(job: Job, backend: string): Promise<Found> {
  const { model } = await loadModel(job.model, { quiet: true });
  try {
    const r = await discover(model, getTask(job.task), { n: 8, seed: 2, modelName: job.name, backend, ...job.opts } as DiscoverOptions);
    r.evaluator.dispose();
    return { file: r.file, scores: r.raw.scores };
  } finally {
    model.dispose();
  }
}

function randomMasks(e: PatchingEngine, rng: Rng, n: number): Float32Array[] {
  return Array.from({ length: n }, () => {
    const m = e.fullMask();
    for (let i = 0; i < m.length; i++) if (m[i] === 1 && rng.next() < 0.5) m[i] = 0;
    return m;
  });
}

describe.skipIf(!gate.ok)('webgpu discovery', () => {
  const wasm = new Map<string, Found>();
  const wasmLogits: Float32Array[] = [];
  let batch: TaskBatch;
  let toy: HookedTransformer;

  /** the engine of the patched-forward checks: permute_lists, split embedding, resample */
  const engineOf = (m: HookedTransformer) => new PatchingEngine(m, batch.clean, { kind: 'resample', corrupt: batch.corrupt }, { splitEmbed: true, positions: batch.positions });

  beforeAll(async () => {
    await initBackend('wasm');
    for (const job of JOBS) wasm.set(job.name, await run(job, 'wasm'));
    const { model } = await loadModel(`${SHARED}models/permute_lists`, { quiet: true });
    batch = getTask('permute-lists').build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 6, seed: 5 });
    const e = engineOf(model);
    const masks = randomMasks(e, new Rng(4), 4);
    for (const ms of [masks, [masks[0]]]) {
      const l = e.run(ms);
      wasmLogits.push(await host(l));
      l.dispose();
    }
    const p = e.prefix(masks[0], 2);
    const l = e.run([masks[0]], { from: p });
    wasmLogits.push(await host(l));
    tf.dispose(l); p.dispose(); e.dispose(); model.dispose();
    expect(await initBackend('webgpu')).toBe('webgpu');
    toy = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
  });
  afterAll(() => { toy?.dispose(); reportDiffs('webgpu discovery'); });

  it('the patched forward equals wasm on random circuits (batched, single, layer-resumed)', async () => {
    const e = engineOf(toy);
    try {
      const masks = randomMasks(e, new Rng(4), 4);
      const got: Float32Array[] = [];
      for (const ms of [masks, [masks[0]]]) { const l = e.run(ms); got.push(await host(l)); l.dispose(); }
      const p = e.prefix(masks[0], 2);
      const l = e.run([masks[0]], { from: p });
      got.push(await host(l));
      l.dispose(); p.dispose();
      got.forEach((g, i) => expectWithin(g, wasmLogits[i], TOL.logits, `patched logits ${['batched', 'single', 'resumed'][i]}`, 'patched logits vs wasm'));
    } finally {
      e.dispose();
    }
  });

  it('100 patched evaluations (every 10th layer-resumed) leak no tensor', async () => {
    const e = engineOf(toy);
    try {
      const masks = randomMasks(e, new Rng(8), 10);
      let i = 0;
      await expectNoLeakOver(100, async () => {
        const m = masks[i++ % 10];
        const p = i % 10 === 0 ? e.prefix(m, 2) : null;
        const l = e.run([m], p ? { from: p } : {});
        await l.data();
        l.dispose(); p?.dispose();
      }, 'patched evaluations');
    } finally {
      e.dispose();
    }
  });

  for (const job of JOBS) {
    it(`${job.name}: the wasm circuit${job.opts.method === 'acdc' ? '' : ' and scores'}`, async () => {
      const before = tf.memory().numTensors;
      const gpu = await run(job, 'webgpu');
      expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
      const cpu = wasm.get(job.name)!;
      expect(gpu.file.backend).toBe('webgpu');
      expect([...circuitEdgeKeys(gpu.file)].sort()).toEqual([...circuitEdgeKeys(cpu.file)].sort());
      expect(circuitEdgeKeys(cpu.file).size).toBeGreaterThan(0);
      const keys = [...cpu.scores.keys()];
      expect([...gpu.scores.keys()].sort()).toEqual([...keys].sort());
      const big = Math.max(...keys.map((k) => Math.abs(cpu.scores.get(k)!)));
      expectWithin(keys.map((k) => gpu.scores.get(k)! / big), keys.map((k) => cpu.scores.get(k)! / big), { abs: TOL.scores }, `${job.name} scores / max|score|`, `${job.opts.method} scores vs wasm (relative)`);
      for (const k of ['clean', 'corrupted', 'circuit'] as const) {
        expect(Math.abs(gpu.file.results[k] - cpu.file.results[k]), k).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.file.results[k])));
      }
    });
  }

  it('circuitscope discover --backend webgpu: ACDC with a checkpoint and chunked rows writes the wasm circuit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-webgpu-'));
    const out = join(dir, 'c.json');
    const job = JOBS[0];
    const r = await runCli(['discover', '--backend', 'webgpu', '--task', job.task, '--model', job.model, '--split-embed', '--threshold', '0.05', '--n', '8', '--seed', '2', '--batch-size', '4', '--no-evaluate', '--quiet', '--out', out], { timeout: 300_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const file = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(file.backend).toBe('webgpu');
    expect([...circuitEdgeKeys(file)].sort()).toEqual([...circuitEdgeKeys(wasm.get(job.name)!.file)].sort());
    expect(existsSync(`${out.replace(/\.json$/, '')}.checkpoint.json`)).toBe(false); // removed after success
  }, 300_000);
});
