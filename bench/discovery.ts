/**
 * Discovery cost on this machine's backend (issue 7): writes bench/results/discovery.json.
 *
 *   npm run build && npm run bench:discovery            # all parts
 *   node dist/bench/discovery.js --quick                # small shapes only (no GPT-2-small part)
 *   node dist/bench/discovery.js --attribution-only     # parts 2-3 only (ACDC rows kept from the last run)
 * (Batched vs one-at-a-time circuit evaluation: bench/patching.ts.)
 *
 * 1. ACDC, naive vs fast, same output: on each available model/task (the shared permute_lists
 *    toy model; the shipped IOI model when present; the HF fixture GPT-2 on IOI prompts) ACDC
 *    runs twice: naive (one full forward per evaluation: sequential, no layer resumption, every
 *    component recomputed) and fast (speculative batching, layer-resumed, dead senders skipped).
 *    The edge sets must be identical. "Full-forward equivalents": naive = the number of
 *    evaluations (each one full forward with logits at every position, as TransformerLens
 *    runs it); fast = FLOPs actually spent / FLOPs of one full forward (engine FLOP counter:
 *    matmuls of the heads, MLPs, mask contractions and unembedding it computed).
 * 2. EAP and EAP-IG on a GPT-2-small-shaped model (random weights), 100 IOI prompts
 *    (BENCH_EAP_PROMPTS) in chunks of 5 (BENCH_EAP_BATCH; the wasm heap is 4 GB): the time of the
 *    attribution (one plain forward + backward per chunk and step and the score contractions,
 *    attribution.ts) against the plain forward of the same prompts (target: EAP <= 3x); the
 *    method's with each chunk's engine setup (clean and corrupted runs caching every sender's
 *    output); the whole `discover` pipeline's (plus clean logits and the circuit's evaluation);
 *    the wasm heap's high-water mark and the process's max RSS.
 * 3. ACDC on the same GPT-2-small shape: the time of one patched evaluation (from layer 0, the
 *    worst case) and the projected time for all 32,491 edges with the measured fast/naive ratio.
 */
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.js';
import { loadModel } from '../src/model/load-model.js';
import type { HookedTransformer } from '../src/model/transformer.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { PatchingEngine } from '../src/patching/engine.js';
import { makeObjective } from '../src/patching/objective.js';
import { acdc } from '../src/discovery/acdc.js';
import { discover } from '../src/discovery/run.js';
import { ablationFor } from '../src/patching/ablation.js';
import { getTask } from '../src/tasks/registry.js';
import { resolveSharedModel } from '../src/tasks/shared-models.js';
import { shippedModelPath } from '../src/model/load-model.js';
import type { Task } from '../src/tasks/types.js';

const ROOT = process.cwd(); // run from the repository root
const quick = process.argv.includes('--quick');

interface AcdcRow { model: string; task: string; n: number; threshold: number; edges: number; kept: number; identical: boolean;
  naive: { evaluations: number; fullForwardEquivalents: number; seconds: number };
  fast: { batchedCalls: number; circuitEvaluations: number; fullForwardEquivalents: number; seconds: number };
  /** speculative batching (8 removals per batched call): fewer calls, some wasted evaluations */
  speculative: { batchedCalls: number; circuitEvaluations: number; fullForwardEquivalents: number; seconds: number };
  ratio: number }

async function acdcCompare(model: HookedTransformer, modelName: string, task: Task, n: number, threshold: number, splitEmbed: boolean): Promise<AcdcRow> {
  const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n, seed: 0 });
  const runOnce = async (fast: boolean, speculate = 1) => {
    const engine = new PatchingEngine(model, batch.clean, ablationFor('resample', batch), { splitEmbed, positions: batch.positions });
    engine.skipDead = fast;
    const clean = tf.tidy(() => tf.squeeze(engine.run([engine.fullMask()]), [0])) as tf.Tensor3D;
    const objective = makeObjective('kl', task, batch, clean);
    clean.dispose();
    const f0 = engine.stats.flops, c0 = engine.stats.circuits, r0 = engine.stats.runs;
    const t0 = performance.now();
    const r = await acdc({ engine, objective }, { threshold, speculate, resume: fast });
    const seconds = (performance.now() - t0) / 1000;
    const out = { circuit: r.circuit, seconds, flops: engine.stats.flops - f0, circuits: engine.stats.circuits - c0, runs: engine.stats.runs - r0, full: engine.fullForwardFlops(), edges: engine.fullMask().reduce((a, b) => a + b, 0) };
    objective.dispose(); engine.dispose();
    return out;
  };
  const naive = await runOnce(false);
  const fast = await runOnce(true);
  const spec = await runOnce(true, 8);
  const same = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((e) => b.has(e));
  const identical = same(naive.circuit, fast.circuit) && same(naive.circuit, spec.circuit);
  const fastEq = fast.flops / fast.full;
  return {
    model: modelName, task: task.name, n, threshold, edges: naive.edges, kept: fast.circuit.size, identical,
    naive: { evaluations: naive.circuits, fullForwardEquivalents: naive.circuits, seconds: naive.seconds },
    fast: { batchedCalls: fast.runs, circuitEvaluations: fast.circuits, fullForwardEquivalents: fastEq, seconds: fast.seconds },
    speculative: { batchedCalls: spec.runs, circuitEvaluations: spec.circuits, fullForwardEquivalents: spec.flops / spec.full, seconds: spec.seconds },
    ratio: naive.circuits / fastEq,
  };
}

async function main(): Promise<void> {
  const backend = await initBackend((process.env.CIRCUITSCOPE_BACKEND as 'wasm') ?? 'auto');
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version }, backend, date: new Date().toISOString(),
  };
  // 1. ACDC naive vs fast
  const rows: AcdcRow[] = [];
  const outFile = join(ROOT, 'bench', 'results', quick ? 'discovery.quick.json' : 'discovery.json');
  // --attribution-only: keep the ACDC rows of the last full run, redo parts 2 and 3.
  const attributionOnly = process.argv.includes('--attribution-only') && existsSync(outFile);
  if (attributionOnly) rows.push(...(JSON.parse(readFileSync(outFile, 'utf8')) as { acdc: AcdcRow[] }).acdc);
  const perm = attributionOnly ? null : resolveSharedModel('permute_lists');
  if (perm) {
    const { model } = await loadModel(perm, { quiet: true });
    rows.push(await acdcCompare(model, 'permute_lists', getTask('permute-lists'), 100, 0.02, true));
    model.dispose();
  }
  const ioiShipped = attributionOnly ? undefined : ['ioi-words', 'ioi-2l'].map((m) => (shippedModelPath(m) ? m : null)).find(Boolean);
  if (ioiShipped) {
    const { model } = await loadModel(ioiShipped, { quiet: true });
    rows.push(await acdcCompare(model, ioiShipped, getTask('ioi'), quick ? 20 : 50, 0.01, false));
    model.dispose();
  }
  const fixture = join(ROOT, '..', 'shared', 'fixtures', 'hf-gpt2-tiny', 'hf-save');
  if (!attributionOnly && existsSync(fixture)) {
    const { model } = await loadModel(fixture, { quiet: true });
    rows.push(await acdcCompare(model, 'hf-gpt2-tiny (random weights)', getTask('ioi'), quick ? 10 : 30, 0.01, false));
    model.dispose();
  }
  results.acdc = rows;
  for (const r of rows) console.log(`ACDC ${r.model}/${r.task}: ${r.kept}/${r.edges} edges, identical=${r.identical}; naive ${r.naive.fullForwardEquivalents} full forwards (${r.naive.seconds.toFixed(1)} s), fast ${r.fast.fullForwardEquivalents.toFixed(1)} equivalents in ${r.fast.batchedCalls} batched calls (${r.fast.seconds.toFixed(1)} s): ${r.ratio.toFixed(1)}x fewer; speculative x8: ${r.speculative.batchedCalls} calls, ${r.speculative.fullForwardEquivalents.toFixed(1)} equivalents (${r.speculative.seconds.toFixed(1)} s)`);

  if (!quick) {
    // 2. EAP / EAP-IG on GPT-2-small shape
    const { model } = await loadModel('gpt2-small', { quiet: true });
    const task = getTask('ioi');
    const nEap = Number(process.env.BENCH_EAP_PROMPTS ?? 100);
    const batch = task.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: nEap, seed: 0 });
    const bs = Number(process.env.BENCH_EAP_BATCH ?? 5); // rows per chunk (wasm's 4 GB heap)
    const heapMb = () => { const b = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }; return b.wasm ? b.wasm.HEAPU8.buffer.byteLength / 2 ** 20 : null; };
    model.forward(batch.clean.slice(0, bs)).dispose(); // warm-up (kernels, XNNPACK weight packing)
    let t0 = performance.now();
    for (let s = 0; s < batch.clean.length; s += bs) { const y = model.forward(batch.clean.slice(s, s + bs)); await y.data(); y.dispose(); }
    const forwardSeconds = (performance.now() - t0) / 1000;
    const eapRows: Record<string, unknown>[] = [];
    results.eap = eapRows;
    const save = () => { const o = join(ROOT, 'bench', 'results', 'discovery.json'); mkdirSync(dirname(o), { recursive: true }); writeFileSync(o, JSON.stringify(results, null, 1) + '\n'); };
    // 3 before 2's attribution: a wasm abort leaves the backend unusable.
    {
      const engine = new PatchingEngine(model, batch.clean.slice(0, bs), ablationFor('resample', { ...batch, corrupt: batch.corrupt.slice(0, bs) }), { positions: batch.positions.slice(0, bs) });
      const full = engine.fullMask();
      engine.run([full]).dispose();
      t0 = performance.now();
      for (let i = 0; i < 3; i++) engine.run([full]).dispose();
      const evalSeconds = (performance.now() - t0) / 1000 / 3 * (100 / bs);
      engine.dispose();
      const best = rows.reduce((a, r) => Math.max(a, r.ratio), 1);
      results.acdcGpt2Small = { edges: 32491, prompts: 100, chunk: bs, fullEvaluationSeconds: evalSeconds, naiveProjectedHours: 32491 * evalSeconds / 3600, fastProjectedHours: 32491 * evalSeconds / best / 3600, ratioUsed: best };
      console.log(`ACDC gpt2-small shape: one full evaluation of 100 prompts ${evalSeconds.toFixed(1)} s; naive 32,491 edges ~${(32491 * evalSeconds / 3600).toFixed(0)} h, fast (ratio ${best.toFixed(1)}) ~${(32491 * evalSeconds / best / 3600).toFixed(1)} h`);
      save();
    }
    for (const method of ['eap', 'eap-ig']) {
      t0 = performance.now();
      let file;
      try {
        const r = await discover(model, task, { method, topN: 200, batchSize: bs, modelName: 'gpt2-small (random)', backend, batch });
        r.evaluator.dispose();
        file = r.file;
      } catch (e) {
        eapRows.push({ method, prompts: batch.clean.length, chunk: bs, error: `${(e as Error).message.slice(0, 100)}` });
        console.log(`${method}: failed: ${(e as Error).message.slice(0, 80)}`);
        save();
        break;
      }
      const wall = (performance.now() - t0) / 1000;
      const m = file.results.methodSeconds ?? wall;
      const steps = method === 'eap-ig' ? 5 : 1;
      eapRows.push({
        method, prompts: batch.clean.length, tokensPerPrompt: batch.clean[0].length, chunk: bs, steps,
        attributionSeconds: file.results.attributionSeconds, methodSeconds: m, pipelineSeconds: wall, forwardSeconds,
        attributionRatioPerStep: (file.results.attributionSeconds ?? m) / forwardSeconds / steps,
        methodRatioToForward: m / forwardSeconds, pipelineRatioToForward: wall / forwardSeconds,
        target: '<= 3x forward per step', wasmHeapMB: heapMb(), maxRssBytes: process.resourceUsage().maxRSS * 1024,
      });
      console.log(`${method}: forward+backward ${(file.results.attributionSeconds ?? 0).toFixed(1)} s (${((file.results.attributionSeconds ?? m) / forwardSeconds / steps).toFixed(2)}x the forward per step), method with engine setup ${m.toFixed(1)} s, discover ${wall.toFixed(1)} s for ${nEap} prompts (forward ${forwardSeconds.toFixed(1)} s), wasm heap ${heapMb()?.toFixed(0)} MB, max RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
      save();
    }
    model.dispose();
  }
  const out = join(ROOT, 'bench', 'results', quick ? 'discovery.quick.json' : 'discovery.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 1) + '\n');
  console.log(`wrote ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
