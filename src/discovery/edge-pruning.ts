/**
 * Edge Pruning — Bhaskar, Wettig, Friedman & Chen, "Finding Transformer Circuits with Edge
 * Pruning" (NeurIPS 2024, arXiv 2406.16778); facts in ../shared/reference/peers.md §4.4, §5.5.
 *
 * Learns a mask on the edges by gradient descent. Every edge e has a parameter log alpha_e and a
 * hard-concrete gate (Louizos et al. 2018; l = -0.1, r = 1.1, beta = 2/3): each step draws
 * u_e ~ U(0, 1) and runs the edge-masked forward with
 *   z_e = clamp(sigmoid((log u_e - log(1 - u_e) + log alpha_e) / beta) (r - l) + l, 0, 1),
 * one mask for every row. The loss is
 *   objective(z) + lambda1 (K - K*) + lambda2 (K - K*)^2 / E,
 * where objective is the run's KL(clean || patched) (default) or the negated task metric,
 * K = sum_e P(z_e != 0) = sum_e sigmoid(log alpha_e - beta log(-l / r)) the expected number of
 * edges kept (the L0 norm), E the number of edges and K* = t E the target, t ramped linearly
 * from 1 to `--density` over the first 60% of the steps. The Lagrange multipliers lambda1,
 * lambda2 >= 0 are maximised (gradient ascent) while log alpha is minimised, both with Adam at
 * `--lr`. The gradient dObjective/dz comes from the engine (`maskGradient`: one edge-masked
 * forward and backward); the chain rule to log alpha, the L0 term and Adam run in float64 here.
 *
 * A ladder of densities (`--density 0.05,0.5`, the default): one training run per density, each
 * from the same start, as the paper sweeps its target sparsity to draw a ROC. The circuit is the
 * sparsest run's open gates: log alpha > 0 (the deterministic gate
 * clamp(sigmoid(log alpha)(r - l) + l, 0, 1) above 1/2). Scores rank every edge, in three tiers:
 *   the circuit's edges:             1/2 + p/2   in (0.5, 1)
 *   open in another run only:        1/4 + p/4   in (0.25, 0.5)
 *   closed in every run:             |a_e| / (4 max |a|)   in [0, 0.25]
 * with p the mean over the runs of sigmoid(log alpha_e), and a the objective's EAP-IG attribution
 * (the task metric, 5 steps, as ACDC's candidates: KL's gradient vanishes at the clean run). The
 * last tier is there because closed gates carry no order: Adam moves every coordinate about `lr`
 * a step whatever its gradient's size, so the gates the L0 term closes sink side by side and end
 * a hair apart, in an order set by float noise. Scores are above 0.5 exactly on the circuit (the
 * registry's default threshold), non-negative and monotone (ranking by score or |score| agree).
 * Measured on the toy models (README quality table): the 0.5 run adds the ranking of the edges
 * the sparse run leaves closed but that matter (permute_lists under zero ablation: edge AUC
 * 0.964 with 0.05 alone, 1.000 with 0.05,0.5).
 * Departures from the paper: the multipliers and the penalty act on the expected number of kept
 * edges rather than the sparsity fraction (with Adam the multiplier's step is about `lr` per
 * step, so on the count scale it catches up with the objective's gradient within tens of steps
 * for any graph size), and are kept non-negative (the constraint is "at most the target", so no
 * multiplier ever rewards edges during the ramp); no node masks; every step uses the whole batch
 * (EP: minibatches of 32); log alpha starts at 3 (every gate open in 80% of draws) rather than
 * N(10, 0.01), and the default is 300 steps (EP: 3000, with a 2500-step ramp); the final circuit
 * is log alpha > 0, not EP's threshold binary-searched to the mean mask value.
 * Determinism: u at step k comes from a generator seeded with (seed, k), so a run resumed from
 * a checkpoint (log alpha, the multipliers, both Adam moments, the step) draws what the
 * uninterrupted run drew.
 * Cost: the engine's setup, EAP-IG's 5 passes, then one edge-masked forward and backward of the batch per step
 * and density
 * (the backward holds the forward's tape: about twice a plain forward's memory per row).
 */
import { yieldToEventLoop } from '../util/yield.js';
import { Rng } from '../util/rng.js';
import { fmtNum } from '../util/format.js';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { makeObjective } from '../patching/objective.js';

/** Hard-concrete stretch limits and temperature (Louizos et al.; Edge Pruning's l0.py). */
export const HARD_CONCRETE = Object.freeze({ l: -0.1, r: 1.1, beta: 2 / 3 });

/** Defaults of the method's options (registry: --train-steps, --density, --lr). */
export const EDGE_PRUNING_DEFAULTS = Object.freeze({ steps: 300, density: Object.freeze([0.05, 0.5]), lr: 0.1, seed: 0 });

/** Initial log alpha of every edge, and the fraction of the steps over which the target density ramps down. */
const INIT_LOG_ALPHA = 3;
const WARMUP = 0.6;
/**
 * The start: log alpha_e = 3 + TIE_BREAK |a_e| / max |a| (a: the attribution of the scores'
 * last tier), so gates that sink together keep the attribution's order as far as float noise
 * lets them; 0.01 is far below what one step moves, so training decides everything else.
 */
const TIE_BREAK = 0.01;
const TIE_BREAK_ALPHAS = [0, 0.2, 0.4, 0.6, 0.8];
const ADAM = { b1: 0.9, b2: 0.999, eps: 1e-8 };

export interface EdgePruningCheckpoint {
  version: 1;
  key: string;
  /** the run in progress (an index into the ladder of densities; absent: 0) */
  stage?: number;
  /** the final log alpha of the runs before it */
  finished?: number[][];
  /** |EAP-IG attribution| of every edge (the start and the closed gates' order) */
  attribution?: number[];
  /** steps done in the run in progress */
  step: number;
  logAlpha: number[];
  m: number[];
  v: number[];
  /** lambda1, lambda2 and their Adam moments [m1, m2, v1, v2] */
  lambda: number[];
  lambdaMoments: number[];
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Seed of step k's draws (the run's seed mixed with the step). */
function stepSeed(seed: number, step: number): number {
  return (Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(step + 1, 0x85ebca6b)) >>> 0;
}

/** The mask index of every edge of the graph (the entries a learned mask trains), or an error. */
function maskEdges(full: Float32Array, method: string): number[] {
  const edges: number[] = [];
  for (let i = 0; i < full.length; i++) if (full[i] === 1) edges.push(i);
  if (edges.length === 0) throw new Error(`${method}: the graph has no edges`);
  return edges;
}

/** One Adam step on x (descent on gradient g; `t` counts steps from 1); m and v are updated in place. */
function adamStep(x: Float64Array | number[], g: ArrayLike<number>, m: Float64Array | number[], v: Float64Array | number[], lr: number, t: number, sign: 1 | -1 = 1): void {
  const c1 = 1 - ADAM.b1 ** t, c2 = 1 - ADAM.b2 ** t;
  for (let e = 0; e < g.length; e++) {
    m[e] = ADAM.b1 * m[e] + (1 - ADAM.b1) * g[e];
    v[e] = ADAM.b2 * v[e] + (1 - ADAM.b2) * g[e] * g[e];
    x[e] -= (sign * lr * (m[e] / c1)) / (Math.sqrt(v[e] / c2) + ADAM.eps);
  }
}

/** The saved state of a learned-mask run, checked against this run's settings and edge count (null: none). */
async function loadCheckpoint<C extends { version: number; key: string; step: number }>(opts: MethodOptions, method: string, key: string, E: number, edgesOf: (ck: C) => number): Promise<C | null> {
  const saved = opts.resumeFrom ? await opts.resumeFrom.load() : null;
  if (saved === null) return null;
  const where = opts.resumeFrom!.name;
  const ck = JSON.parse(saved) as C;
  if (ck.version !== 1 || ck.key !== key) throw new Error(`${method}: checkpoint ${where} belongs to another run (its settings: ${ck.key}; this run: ${key})`);
  if (edgesOf(ck) !== E) throw new Error(`${method}: checkpoint ${where} has ${edgesOf(ck)} edges, expected ${E}`);
  return ck;
}

/** Edge key of mask index i. */
function edgeName(lay: { senders: readonly string[]; receivers: readonly string[] }, i: number): string {
  const S = lay.senders.length;
  return `${lay.senders[i % S]}->${lay.receivers[Math.floor(i / S)]}`;
}

function checkOptions(opts: MethodOptions): { steps: number; densities: number[]; lr: number; seed: number } {
  const steps = opts.trainSteps ?? EDGE_PRUNING_DEFAULTS.steps;
  const given = opts.density ?? EDGE_PRUNING_DEFAULTS.density;
  const densities = typeof given === 'number' ? [given] : [...given];
  const lr = opts.lr ?? EDGE_PRUNING_DEFAULTS.lr;
  const seed = opts.seed ?? EDGE_PRUNING_DEFAULTS.seed;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`edge-pruning: --train-steps must be a positive integer, got ${opts.trainSteps}`);
  if (densities.length === 0) throw new Error('edge-pruning: --density needs at least one value');
  for (const d of densities) if (!(d > 0 && d <= 1)) throw new Error(`edge-pruning: --density must be in (0, 1], got ${d}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`edge-pruning: --lr must be a positive number, got ${opts.lr}`);
  if (!Number.isInteger(seed)) throw new Error(`edge-pruning: the seed must be an integer, got ${opts.seed}`);
  return { steps, densities, lr, seed };
}

export async function edgePruning(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const { engine, objective } = ctx;
  const lay = engine.layout;
  const { steps, densities, lr, seed } = checkOptions(opts);
  const { l, r, beta } = HARD_CONCRETE;
  const full = engine.fullMask();
  const edges = maskEdges(full, 'edge-pruning'); // mask index of each edge
  const E = edges.length;
  const l0Shift = beta * Math.log(-l / r); // P(z != 0) = sigmoid(log alpha - l0Shift)
  // (one density keeps the key of a run before ladders existed, so its checkpoint still resumes)
  const key = `${opts.checkpointKey ?? ''}|edge-pruning ${JSON.stringify({ steps, density: densities.length === 1 ? densities[0] : densities, lr, seed })}`;

  let forwards = 0;
  let stage = 0, start = 0;
  const finished: Float64Array[] = [];
  let attribution: Float64Array;
  const ck = await loadCheckpoint<EdgePruningCheckpoint>(opts, 'edge-pruning', key, E, (c) => c.logAlpha.length);
  if (ck?.attribution) {
    attribution = Float64Array.from(ck.attribution);
  } else {
    // |a|, a = EAP-IG's attribution of the task metric (also for a checkpoint written before it was kept)
    const task = objective.kind === 'kl' ? makeObjective('task', objective.task, objective.batch, objective.clean) : objective;
    let grad: Float32Array | Float64Array;
    try {
      ({ grad } = await engine.attribute(task, TIE_BREAK_ALPHAS));
    } finally {
      if (task !== objective) task.dispose();
    }
    forwards += TIE_BREAK_ALPHAS.length;
    attribution = Float64Array.from(edges, (i) => Math.abs(grad[i]));
  }
  let top = 0;
  for (let e = 0; e < E; e++) top = Math.max(top, attribution[e]);
  const startLogAlpha = Float64Array.from(attribution, (a) => INIT_LOG_ALPHA + (top > 0 ? (TIE_BREAK * a) / top : 0));

  let logAlpha = Float64Array.from(startLogAlpha);
  let m = new Float64Array(E), v = new Float64Array(E);
  const lambda = [0, 0], lm = [0, 0, 0, 0]; // lambda1, lambda2; Adam m1, m2, v1, v2
  if (ck !== null) {
    stage = ck.stage ?? 0;
    for (const f of ck.finished ?? []) finished.push(Float64Array.from(f));
    logAlpha = Float64Array.from(ck.logAlpha);
    m = Float64Array.from(ck.m);
    v = Float64Array.from(ck.v);
    lambda.splice(0, 2, ...ck.lambda);
    lm.splice(0, 4, ...ck.lambdaMoments);
    start = ck.step;
  }

  const mask = new Float32Array(full.length);
  const dz = new Float64Array(E); // dz/dlogalpha of this step's draw
  const g = new Float64Array(E);
  const open = () => { let n = 0; for (let e = 0; e < E; e++) if (logAlpha[e] > 0) n++; return n; };
  const total = steps * densities.length;

  for (; stage < densities.length; stage++) {
    const density = densities[stage];
    for (let step = start; step < steps; step++) {
      // the gates of this step: hard-concrete draws, one per edge
      const rng = new Rng(stepSeed(seed, step));
      for (let e = 0; e < E; e++) {
        const u = Math.min(1 - 1e-6, Math.max(1e-6, rng.next()));
        const s = sigmoid((Math.log(u) - Math.log(1 - u) + logAlpha[e]) / beta);
        const zs = s * (r - l) + l;
        mask[edges[e]] = Math.min(1, Math.max(0, zs));
        dz[e] = zs > 0 && zs < 1 ? ((r - l) * s * (1 - s)) / beta : 0;
      }
      const { value, grad } = await engine.maskGradient(objective, mask);
      forwards++;

      // loss = -value (objective.differentiable is higher-is-better) + lambda1 (K - K*) + lambda2 (K - K*)^2 / E
      const t = 1 - (1 - density) * Math.min(1, (step + 1) / Math.max(1, Math.round(WARMUP * steps)));
      let K = 0;
      const p = new Float64Array(E);
      for (let e = 0; e < E; e++) { p[e] = sigmoid(logAlpha[e] - l0Shift); K += p[e]; }
      const excess = K - t * E;
      const dK = lambda[0] + (2 * lambda[1] * excess) / E; // d penalty / dK
      for (let e = 0; e < E; e++) g[e] = -grad[edges[e]] * dz[e] + dK * p[e] * (1 - p[e]);

      // Adam: descent on log alpha, ascent on the multipliers (kept >= 0)
      const k = step + 1;
      adamStep(logAlpha, g, m, v, lr, k);
      const lmm = lm.slice(0, 2), lmv = lm.slice(2, 4);
      adamStep(lambda, [excess, (excess * excess) / E], lmm, lmv, lr, k, -1); // ascent
      lm.splice(0, 4, ...lmm, ...lmv);
      for (let j = 0; j < 2; j++) lambda[j] = Math.max(0, lambda[j]);

      const loss = -value + lambda[0] * excess + (lambda[1] * excess * excess) / E;
      const run = densities.length > 1 ? `density ${fmtNum(density)}: ` : '';
      ctx.onProgress?.({ done: stage * steps + k, total, kept: open(), note: `${run}loss ${fmtNum(loss)}, ${objective.name} ${fmtNum(objective.kind === 'kl' ? -value : value)}, expected edges ${fmtNum(K)}` });
      if (opts.checkpoint) {
        const ck: EdgePruningCheckpoint = {
          version: 1, key, stage, finished: finished.map((f) => Array.from(f)), attribution: Array.from(attribution),
          step: k, logAlpha: Array.from(logAlpha), m: Array.from(m), v: Array.from(v), lambda: [...lambda], lambdaMoments: [...lm],
        };
        await opts.checkpoint.save(JSON.stringify(ck));
      }
      await yieldToEventLoop(); // an interrupt lands here, after the checkpoint
    }
    // the next density trains from the same start
    finished.push(logAlpha);
    logAlpha = Float64Array.from(startLogAlpha);
    m = new Float64Array(E); v = new Float64Array(E);
    lambda.fill(0); lm.fill(0);
    start = 0;
  }

  // the scores' three tiers (see the header): the sparsest run's circuit, open in another run, closed in all
  const sparsest = finished[densities.indexOf(Math.min(...densities))];
  const scores = new Map<string, number>();
  const circuit = new Set<string>();
  edges.forEach((i, e) => {
    const edge = edgeName(lay, i);
    let p = 0, anyOpen = false;
    for (const f of finished) { p += sigmoid(f[e]); anyOpen ||= f[e] > 0; }
    p /= finished.length;
    const inCircuit = sparsest[e] > 0;
    scores.set(edge, inCircuit ? 0.5 + p / 2 : anyOpen ? 0.25 + p / 4 : top > 0 ? attribution[e] / (4 * top) : 0);
    if (inCircuit) circuit.add(edge);
  });
  return { method: 'edge-pruning', scores, circuit, forwards, backwards: forwards, trace: [] };
}

/**
 * Nested learned ranking in the manner of MAttr (matryoshka attribution; arXiv 2609.25518,
 * ../shared/reference/peers.md §4.8): one parameter theta_e per edge and, each step, a circuit
 * size k drawn uniformly from [1, E] (seeded by (seed, step); uniform in size as MIB's CPR
 * weighs sizes on a linear axis, where MAttr draws k from its own schedule); the mask is a soft top-k,
 *   m_e = sigmoid((theta_e - tau_k) / T),  tau_k = between the k-th and (k+1)-th largest theta,
 * and Adam (`--lr`) raises the objective of that mask (tau held fixed in the gradient). Since
 * every size is trained, the final order of theta is one ranking meant to be good at every
 * sparsity: what MIB's CPR/CMD and a sweep over --top-n read. Scores: theta - min(theta)
 * (non-negative, monotone: ranking by score or |score| agree). No circuit of its own: --top-n
 * or --threshold pick one (default: top 2%, as for EAP).
 * Departures from MAttr: full-batch steps (no minibatches), a fixed temperature T = 0.1 on the
 * theta scale, theta warm-started from EAP-IG's attribution scaled to [-1, 1] (as the 2025 MIB
 * shared-task winners warm-started Edge Pruning), defaults 300 steps.
 * Cost: EAP-IG's 5 forward/backward passes, then one edge-masked forward and backward per step.
 */
export const MATTR_DEFAULTS = Object.freeze({ steps: 300, lr: 0.3, seed: 0, temperature: 0.1 });

export interface MattrCheckpoint { version: 1; key: string; step: number; theta: number[]; m: number[]; v: number[] }

export async function mattr(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const { engine, objective } = ctx;
  const lay = engine.layout;
  const steps = opts.trainSteps ?? MATTR_DEFAULTS.steps;
  const lr = opts.lr ?? MATTR_DEFAULTS.lr;
  const seed = opts.seed ?? MATTR_DEFAULTS.seed;
  const T = MATTR_DEFAULTS.temperature;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`mattr: --train-steps must be a positive integer, got ${opts.trainSteps}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`mattr: --lr must be a positive number, got ${opts.lr}`);
  const full = engine.fullMask();
  const edges = maskEdges(full, 'mattr');
  const E = edges.length;
  const key = `${opts.checkpointKey ?? ''}|mattr ${JSON.stringify({ steps, lr, seed })}`;

  // warm start from EAP-IG (5 steps over the inputs): theta = the objective's attribution,
  // scaled to [-1, 1], plus tiny seeded jitter that breaks ties
  const init = new Rng(stepSeed(seed, -1));
  let theta = Float64Array.from({ length: E }, () => (init.next() - 0.5) * 1e-6);
  let forwards = 0;
  const warm = async () => {
    const { grad } = await engine.attribute(objective, [0, 0.2, 0.4, 0.6, 0.8]);
    forwards += 5;
    let top = 0;
    for (let e = 0; e < E; e++) top = Math.max(top, Math.abs(grad[edges[e]]));
    if (top > 0) for (let e = 0; e < E; e++) theta[e] += grad[edges[e]] / top;
  };
  let m = new Float64Array(E), v = new Float64Array(E);
  let start = 0;
  const ck = await loadCheckpoint<MattrCheckpoint>(opts, 'mattr', key, E, (c) => c.theta.length);
  if (ck !== null) {
    theta = Float64Array.from(ck.theta); m = Float64Array.from(ck.m); v = Float64Array.from(ck.v);
    start = ck.step;
  } else await warm();
  const mask = new Float32Array(full.length);
  const dm = new Float64Array(E), g = new Float64Array(E);
  const order = new Int32Array(E);
  for (let step = start; step < steps; step++) {
    const rng = new Rng(stepSeed(seed, step));
    const k = Math.min(E, 1 + Math.floor(rng.next() * E));
    for (let e = 0; e < E; e++) order[e] = e;
    order.sort((a, b) => theta[b] - theta[a] || a - b);
    const tau = k >= E ? theta[order[E - 1]] - 4 * T : (theta[order[k - 1]] + theta[order[k]]) / 2;
    for (let e = 0; e < E; e++) {
      const z = sigmoid((theta[e] - tau) / T);
      mask[edges[e]] = z;
      dm[e] = (z * (1 - z)) / T;
    }
    const { value, grad } = await engine.maskGradient(objective, mask);
    forwards++;
    const t = step + 1;
    for (let e = 0; e < E; e++) g[e] = -grad[edges[e]] * dm[e]; // descend on -objective
    adamStep(theta, g, m, v, lr, t);
    ctx.onProgress?.({ done: t, total: steps, kept: k, note: `size ${k}, ${objective.name} ${fmtNum(objective.kind === 'kl' ? -value : value)}` });
    if (opts.checkpoint) {
      const ck: MattrCheckpoint = { version: 1, key, step: t, theta: Array.from(theta), m: Array.from(m), v: Array.from(v) };
      await opts.checkpoint.save(JSON.stringify(ck));
    }
    await yieldToEventLoop();
  }
  let lo = Infinity;
  for (let e = 0; e < E; e++) lo = Math.min(lo, theta[e]);
  const scores = new Map<string, number>();
  edges.forEach((i, e) => scores.set(edgeName(lay, i), theta[e] - lo));
  return { method: 'mattr', scores, circuit: new Set(), forwards, backwards: forwards, trace: [] };
}
