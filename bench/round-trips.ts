/**
 * Device round trips (issue 14): GPU->CPU reads and kernel dispatches per forward, per patched
 * evaluation, per ACDC run (and per tested edge) and per EAP / EAP-IG pass, counted on the
 * backend in use. Reads are counted at the tfjs engine (every `await t.data()` and every
 * synchronous read; the latter must be 0), kernels at the engine's `runKernel` (each kernel is
 * one program dispatch on webgpu, more for a few multi-pass kernels; `tf.profile` would time
 * every kernel, which serialises the GPU queue). The counts do not depend on the hardware, so
 * SwiftShader gives the GPU's:
 *
 *   npm run build && node scripts/swiftshader-env.mjs node dist/bench/round-trips.js   # webgpu
 *   CIRCUITSCOPE_BACKEND=wasm node dist/bench/round-trips.js
 *
 * Writes bench/results/round-trips-<backend>.json. Targets: no read inside a forward; one read
 * per batched evaluation; ACDC's speculative batches (8 removals per forward, the webgpu
 * default of `discover`) evaluate several removals per read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../src/model/backend.js';
import { loadModel } from '../src/model/load-model.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { PatchingEngine } from '../src/patching/engine.js';
import { ablationFor } from '../src/patching/ablation.js';
import { makeObjective } from '../src/patching/objective.js';
import { acdc } from '../src/discovery/acdc.js';
import { eap } from '../src/discovery/eap.js';
import { eapIg } from '../src/discovery/eap-ig.js';
import { getTask } from '../src/tasks/registry.js';
import { resolveSharedModel } from '../src/tasks/shared-models.js';

const counts = { reads: 0, syncReads: 0, kernels: 0 };

/** Count at the engine: reads (`read`, async; `readSync`) and kernels run (`runKernel`). */
function instrument(): void {
  type Engine = { read: (id: object) => Promise<unknown>; readSync: (id: object) => unknown; runKernel: (...a: unknown[]) => unknown };
  const e = tf.engine() as unknown as Engine;
  const read = e.read.bind(e), readSync = e.readSync.bind(e), runKernel = e.runKernel.bind(e);
  e.read = (id) => { counts.reads++; return read(id); };
  e.readSync = (id) => { counts.syncReads++; return readSync(id); };
  e.runKernel = (...a) => { counts.kernels++; return runKernel(...a); };
}

/** Reads and kernels of `f` (awaited). */
async function measure(f: () => Promise<unknown>): Promise<{ reads: number; syncReads: number; kernels: number }> {
  const c0 = { ...counts };
  await f();
  return { reads: counts.reads - c0.reads, syncReads: counts.syncReads - c0.syncReads, kernels: counts.kernels - c0.kernels };
}

async function main(): Promise<void> {
  const backend = await initBackend((process.env.CIRCUITSCOPE_BACKEND as BackendName | undefined) ?? 'webgpu');
  instrument();
  const rows: Record<string, unknown>[] = [];
  const subjects = [
    { name: 'permute_lists (toy, 2 layers x 1 head)', spec: resolveSharedModel('permute_lists'), task: 'permute-lists', split: true, n: 8 },
    { name: 'ioi-words (shipped, 2 layers x 4 heads + MLPs)', spec: 'ioi-words', task: 'ioi', split: false, n: 8 },
  ];
  for (const s of subjects) {
    if (!s.spec) { console.log(`${s.name}: not found, skipped`); continue; }
    const { model } = await loadModel(s.spec, { quiet: true });
    const task = getTask(s.task);
    const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: s.n, seed: 0 });
    const row: Record<string, unknown> = { model: s.name, prompts: s.n, positions: batch.clean[0].length };
    // a plain forward, read once at the end
    model.forward(batch.clean).dispose(); // warm-up (shaders)
    row.forward = await measure(async () => { const l = model.forward(batch.clean); try { return await l.data(); } finally { l.dispose(); } });
    row.forwardNoRead = await measure(async () => { model.forward(batch.clean).dispose(); });
    const engine = new PatchingEngine(model, batch.clean, ablationFor('resample', batch), { splitEmbed: s.split, positions: batch.positions, attribution: true });
    const clean = engine.cleanLogits();
    const kl = makeObjective('kl', task, batch, clean);
    const metric = makeObjective('task', task, batch, clean);
    clean.dispose();
    // one patched evaluation of 1 and of 8 circuits (one forward each), read once
    for (const C of [1, 8]) {
      const masks = Array.from({ length: C }, () => engine.fullMask());
      row[`evaluate${C}`] = await measure(async () => { const l = engine.run(masks); try { return await kl.evaluate(l); } finally { l.dispose(); } });
    }
    const edges = engine.fullMask().reduce((a, b) => a + b, 0);
    for (const speculate of [1, 8]) {
      let tested = 0;
      const m = await measure(async () => { const r = await acdc({ engine, objective: kl }, { threshold: 0.01, speculate }); tested = r.trace.length; return r; });
      row[`acdc_speculate${speculate}`] = { ...m, edges, tested, readsPerTestedEdge: m.reads / Math.max(1, tested), kernelsPerTestedEdge: m.kernels / Math.max(1, tested) };
    }
    row.eap = await measure(() => eap({ engine, objective: metric }, {}));
    row.eapIg5 = await measure(() => eapIg({ engine, objective: metric }, { steps: 5 }));
    kl.dispose(); metric.dispose(); engine.dispose(); model.dispose();
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const out = join(process.cwd(), 'bench', 'results', `round-trips-${backend}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ backend, date: new Date().toISOString(), rows }, null, 1) + '\n');
  console.log(`wrote ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
