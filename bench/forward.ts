/**
 * Forward and forward+backward throughput of a GPT-2-small-shaped model (random weights) on
 * every tfjs backend that initialises, next to the same backend's matmul rate measured in the
 * same run.
 *
 *   npm run build && npm run bench:forward            # wasm + cpu (+ node/node-gpu if installed)
 *   node dist/bench/forward.js --quick                # small shapes, a quick smoke run
 *   node dist/bench/forward.js --backends wasm        # only some backends
 *   CIRCUITSCOPE_TRY_WEBGPU=1 node dist/bench/forward.js   # also try webgpu
 *
 * Each backend runs in its own child process (tfjs backends are process-global, and a fresh
 * process gives the wasm heap a clean start; an abort on one backend does not stop the
 * others). Results go to bench/results/forward.json and a table on stdout.
 *
 * Shapes: batch x seq = 8 x 16 and 32 x 64 (cpu: 8 x 16 only, it is ~40x slower than wasm);
 * --quick: 2 x 8 and 4 x 16 (cpu: 2 x 8).
 *
 * FLOP count of one forward (multiply-add = 2 FLOPs; only matmuls are counted, LayerNorm,
 * softmax, GELU and adds are ignored), per token, for a sequence of length T:
 *
 *   per layer:  2*D*(3*H*Dh)      q, k, v projections
 *             + 2*H*Dh*T          scores q.k^T (tfjs computes the full T x T square, masked)
 *             + 2*H*Dh*T          pattern @ v
 *             + 2*(H*Dh)*D        output projection W_O
 *             + 2*D*dMlp*2        MLP in and out (absent in attention-only models)
 *   once:       2*D*dVocabOut     unembedding
 *
 * (the embedding is a gather, 0 FLOPs). GPT-2 small: 12 * (14.16M + 3072*T) + 77.2M, i.e.
 * ~247M + 36.9K*T FLOPs per token (~250 MFLOP per token at T = 64).
 *
 * Forward+backward (fwdBwdTokensPerSec): the value and gradient of a logit difference at the
 * last position (mean over the batch, the attribution-patching metric) with respect to the
 * embedding output (a zero offset added at hook_embed), i.e. the backward through every layer
 * that EAP needs, with no weight gradients; its FLOPs are counted as 2x the forward's
 * (fwdBwdGflops). fwdBwdParamsTokensPerSec, on each backend's first (small) shape only, adds
 * every weight gradient (training-style) except the token embedding W_E's (its gather gradient
 * needs UnsortedSegmentSum, which tfjs-backend-wasm 4.22 lacks); at 32 x 64 its tape and
 * weight gradients overflow the wasm heap (Aborted()).
 *
 * Sync: wasm and cpu run kernels synchronously; every timed call still ends by reading a
 * scalar back with `await data()` so that asynchronous backends (webgpu) are timed fully.
 * ratio = fwdGflops / matmulGflops, the matmul being [batch*seq, 768] x [768, 3072] on the
 * same backend (the MLP's shape), repeated and read back.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, initBackend, tf, type BackendName } from '../src/model/backend.js';
import { presetConfig, type ModelConfig } from '../src/model/config.js';
import { randomStateDict } from '../src/model/weights.js';
import { HookedTransformer } from '../src/model/transformer.js';
import { hook } from '../src/model/hook-names.js';

const MARY = 5335, JOHN = 1757; // ' Mary', ' John'

export interface BenchRow {
  backend: string;
  batch: number;
  seq: number;
  fwdTokensPerSec: number | null;
  fwdBwdTokensPerSec: number | null;
  fwdGflops: number | null;
  fwdBwdGflops: number | null;
  matmulGflops: number | null;
  ratio: number | null;
  /** forward + backward with every weight gradient (training-style); first shape only */
  fwdBwdParamsTokensPerSec: number | null;
  /** set when a measurement failed (e.g. the wasm heap ran out) */
  error?: string;
}

interface ChildReport {
  backend: string;
  requested: string;
  flags?: Record<string, unknown>;
  rows: BenchRow[];
  skipped?: string;
}

/** Matmul FLOPs of one forward over batch x seq tokens (the formula in the header). */
export function forwardFlops(cfg: ModelConfig, batch: number, seq: number): number {
  const { dModel: D, nHeads: H, dHead: Dh, nLayers: L, dVocabOut: V } = cfg;
  const perLayer = 2 * D * 3 * H * Dh + 2 * H * Dh * seq * 2 + 2 * H * Dh * D + (cfg.attnOnly ? 0 : 4 * D * (cfg.dMlp as number));
  return batch * seq * (L * perLayer + 2 * D * V);
}

function parseArgs(argv: string[]): { quick: boolean; child: string | null; backends: string[] | null; minSeconds: number } {
  let quick = false, child: string | null = null, backends: string[] | null = null, minSeconds = 3;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--child') child = argv[++i];
    else if (a === '--backends') backends = argv[++i].split(',').filter(Boolean);
    else if (a === '--min-seconds') minSeconds = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/forward.js [--quick] [--backends wasm,cpu] [--min-seconds 3]\n');
      process.exit(0);
    } else throw new Error(`bench: unknown argument '${a}'`);
  }
  return { quick, child, backends, minSeconds };
}

function shapesFor(backend: string, quick: boolean): [number, number][] {
  if (backend === 'cpu') return quick ? [[2, 8]] : [[8, 16]];
  return quick ? [[2, 8], [4, 16]] : [[8, 16], [32, 64]];
}

/**
 * Seconds per call. The first call is a warm-up (kernel compilation, weight packing, heap
 * growth) and is discarded, unless it alone took longer than minSeconds: then one-time costs
 * are a small share and it is the measurement (the 32 x 64 backward on wasm takes minutes).
 * Otherwise calls repeat until minSeconds have passed.
 */
async function timeIt(fn: () => Promise<void>, minSeconds: number): Promise<number> {
  let t0 = performance.now();
  await fn();
  const first = (performance.now() - t0) / 1000;
  if (first > minSeconds) return first;
  let n = 0;
  t0 = performance.now();
  do {
    await fn();
    n++;
  } while ((performance.now() - t0) / 1000 < minSeconds);
  return (performance.now() - t0) / 1000 / n;
}

function tokensFor(cfg: ModelConfig, batch: number, seq: number): tf.Tensor2D {
  const ids = new Int32Array(batch * seq);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919 + 13) % cfg.dVocab;
  return tf.tensor2d(ids, [batch, seq], 'int32');
}

/** Every parameter tensor the model holds (the backward keeps those the forward uses). */
function paramTensors(model: HookedTransformer): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  const add = (x: unknown) => { if (x instanceof tf.Tensor) out.push(x); };
  const p = model.params as unknown as Record<string, unknown> & { layers: Record<string, unknown>[] };
  for (const [k, v] of Object.entries(p)) if (k !== 'layers') add(v);
  for (const l of p.layers) for (const v of Object.values(l)) add(v);
  // Several entries share storage (reshapes); keep one tensor per id.
  return [...new Map(out.map((t) => [t.id, t])).values()];
}

async function matmulRate(rows: number, minSeconds: number): Promise<number> {
  const a = tf.randomNormal([rows, 768]);
  const b = tf.randomNormal([768, 3072]);
  try {
    const s = await timeIt(async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    }, minSeconds);
    return (2 * rows * 768 * 3072) / s / 1e9;
  } finally {
    tf.dispose([a, b]);
  }
}

async function runChild(requested: string, quick: boolean, minSeconds: number): Promise<ChildReport> {
  let backend: string;
  try {
    backend = await initBackend(requested as BackendName);
  } catch (e) {
    return { backend: requested, requested, rows: [], skipped: (e as Error).message };
  }
  const flags: Record<string, unknown> = { tfjs: tf.version.tfjs };
  if (backend === 'wasm') {
    for (const f of ['WASM_HAS_SIMD_SUPPORT', 'WASM_HAS_MULTITHREAD_SUPPORT']) {
      try { flags[f] = await tf.env().getAsync(f); } catch { /* flag unknown */ }
    }
  }
  const cfg = presetConfig('gpt2-small');
  const model = HookedTransformer.fromStateDict(cfg, randomStateDict(cfg, 0));
  // W_E is left out: its gradient (the gather's) needs the UnsortedSegmentSum kernel, which
  // tfjs-backend-wasm 4.22 does not register; it is a scatter of batch*seq rows, 0 FLOPs.
  const params = paramTensors(model).filter((t) => t !== model.params.WE);
  const rows: BenchRow[] = [];
  try {
    // Warm the kernels up on a tiny input.
    { const t = tokensFor(cfg, 1, 4); tf.dispose(model.forward(t)); t.dispose(); }
    let first = true;
    for (const [batch, seq] of shapesFor(backend, quick)) {
      const row: BenchRow = { backend, batch, seq, fwdTokensPerSec: null, fwdBwdTokensPerSec: null, fwdGflops: null, fwdBwdGflops: null, matmulGflops: null, ratio: null, fwdBwdParamsTokensPerSec: null };
      rows.push(row);
      const tokens = tokensFor(cfg, batch, seq);
      const flops = forwardFlops(cfg, batch, seq);
      const errors: string[] = [];
      const log = (s: string) => process.stderr.write(`[${backend} ${batch}x${seq}] ${s}\n`);
      try {
        row.matmulGflops = await matmulRate(batch * seq, minSeconds);
        log(`matmul ${row.matmulGflops.toFixed(2)} GFLOP/s`);
      } catch (e) { errors.push(`matmul: ${(e as Error).message}`); }
      try {
        const s = await timeIt(async () => {
          const y = tf.tidy(() => tf.sum(model.forward(tokens)));
          await y.data();
          y.dispose();
        }, minSeconds);
        row.fwdTokensPerSec = (batch * seq) / s;
        row.fwdGflops = flops / s / 1e9;
        log(`forward ${s.toFixed(3)} s, ${row.fwdTokensPerSec.toFixed(1)} tok/s, ${row.fwdGflops.toFixed(2)} GFLOP/s`);
      } catch (e) { errors.push(`forward: ${(e as Error).message}`); }
      // Metric of attribution patching: mean logit difference at the last position.
      const metric = (logits: tf.Tensor3D): tf.Scalar => {
        const last = tf.slice(logits, [0, seq - 1, 0], [batch, 1, cfg.dVocabOut]);
        return tf.mean(tf.sub(tf.slice(last, [0, 0, MARY], [batch, 1, 1]), tf.slice(last, [0, 0, JOHN], [batch, 1, 1])));
      };
      try {
        // Gradient with respect to the embedding output (a zero offset added at hook_embed):
        // the backward through every layer that attribution patching needs, no weight grads.
        const delta = tf.zeros([batch, seq, cfg.dModel]);
        try {
          const s = await timeIt(async () => {
            const y = tf.tidy(() => {
              const { grads } = tf.engine().gradients(() => metric(model.runWithHooks(tokens, [[hook.embed, (x) => tf.add(x, delta)]])), [delta]);
              return tf.sum(grads[0]);
            });
            await y.data();
            y.dispose();
          }, minSeconds);
          row.fwdBwdTokensPerSec = (batch * seq) / s;
          row.fwdBwdGflops = (2 * flops) / s / 1e9;
          log(`forward+backward (activations) ${s.toFixed(3)} s, ${row.fwdBwdTokensPerSec.toFixed(1)} tok/s, ${row.fwdBwdGflops.toFixed(2)} GFLOP/s`);
        } finally {
          delta.dispose();
        }
      } catch (e) { errors.push(`forward+backward: ${(e as Error).message}`); }
      if (first) {
        try {
          const s = await timeIt(async () => {
            const y = tf.tidy(() => {
              const { grads } = tf.engine().gradients(() => metric(model.forward(tokens)), params, undefined, true);
              const got = grads.filter((g): g is tf.Tensor => g != null);
              if (got.length === 0) throw new Error('no parameter received a gradient');
              return tf.addN(got.map((g) => tf.sum(g)));
            });
            await y.data();
            y.dispose();
          }, minSeconds);
          row.fwdBwdParamsTokensPerSec = (batch * seq) / s;
          log(`forward+backward (all weight gradients) ${s.toFixed(3)} s, ${row.fwdBwdParamsTokensPerSec.toFixed(1)} tok/s`);
        } catch (e) { errors.push(`forward+backward (weights): ${(e as Error).message}`); }
      }
      first = false;
      try { tokens.dispose(); } catch { /* the backend aborted (out of heap): nothing left to free */ }
      if (row.fwdGflops !== null && row.matmulGflops) row.ratio = row.fwdGflops / row.matmulGflops;
      if (errors.length) { row.error = errors.join('; '); log(`error: ${row.error}`); }
      // The report so far, as a line the parent reads (its last): a wasm abort (the 4 GB heap)
      // can kill this process later, and the finished shapes' figures must survive it.
      process.stdout.write(`${JSON.stringify({ backend, requested, flags, rows })}\n`);
    }
  } finally {
    model.dispose();
  }
  return { backend, requested, flags, rows };
}

function childRun(script: string, backend: string, quick: boolean, minSeconds: number): Promise<ChildReport> {
  return new Promise((resolveP) => {
    const args = [...process.execArgv, script, '--child', backend, '--min-seconds', String(minSeconds), ...(quick ? ['--quick'] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (line) { resolveP(JSON.parse(line) as ChildReport); return; }
      resolveP({ backend, requested: backend, rows: [], skipped: `child process ended (code ${code}, signal ${signal}) without a result` });
    });
  });
}

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
  return d;
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '-' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child) {
    const r = await runChild(opts.child, opts.quick, opts.minSeconds);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const candidates = opts.backends ?? BACKENDS.filter((b) => b !== 'auto' && (b !== 'webgpu' || process.env.CIRCUITSCOPE_TRY_WEBGPU));
  const script = fileURLToPath(import.meta.url);
  const reports: ChildReport[] = [];
  const seen = new Set<string>();
  for (const b of candidates) {
    process.stderr.write(`bench: ${b} ...\n`);
    const r = await childRun(script, b, opts.quick, opts.minSeconds);
    if (r.skipped) { process.stderr.write(`bench: ${b}: skipped (${r.skipped})\n`); reports.push(r); continue; }
    // node and node-gpu may both come up as 'tensorflow'; measure each real backend once.
    if (seen.has(r.backend)) continue;
    seen.add(r.backend);
    reports.push(r);
  }
  const cpu = cpus();
  const result = {
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? 'unknown', node: process.version },
    date: new Date().toISOString(),
    model: 'gpt2-small shape (12 layers, 12 heads, d_model 768, d_mlp 3072, vocab 50257), random weights',
    quick: opts.quick,
    flops: 'per token: nLayers*(6*D*H*Dh + 4*H*Dh*T + 2*H*Dh*D + 4*D*dMlp) + 2*D*dVocabOut; fwd+bwd (activation gradients) counted as 2x forward',
    backends: reports.map((r) => ({ backend: r.backend, requested: r.requested, flags: r.flags, skipped: r.skipped })),
    results: reports.flatMap((r) => r.rows),
  };
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, opts.quick ? 'forward.quick.json' : 'forward.json');
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const head = ['backend', 'batch x seq', 'fwd tok/s', 'fwd+bwd tok/s', 'fwd+bwd(W) tok/s', 'fwd GFLOP/s', 'matmul GFLOP/s', 'ratio'];
  const rows = result.results.map((r) => [r.backend, `${r.batch} x ${r.seq}`, fmt(r.fwdTokensPerSec), fmt(r.fwdBwdTokensPerSec), fmt(r.fwdBwdParamsTokensPerSec, 2), fmt(r.fwdGflops, 2), fmt(r.matmulGflops, 2), fmt(r.ratio, 2)]);
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (c: string[]) => c.map((s, j) => (j < 2 ? s.padEnd(w[j]) : s.padStart(w[j]))).join('  ');
  process.stdout.write(`${cpu[0]?.model ?? ''} (${cpu.length} cpus), node ${process.version}\n${line(head)}\n${rows.map(line).join('\n')}\n`);
  for (const r of result.results) if (r.error) process.stdout.write(`${r.backend} ${r.batch}x${r.seq}: ${r.error}\n`);
  process.stdout.write(`wrote ${resolve(file)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
