/**
 * ACDC — Conmy et al., "Towards Automated Circuit Discovery for Mechanistic Interpretability"
 * (NeurIPS 2023), as implemented in their repository (docs/methods.md "ACDC").
 *
 * Scores: for each edge, the rise of the objective (KL(clean || patched), or the negated task
 * metric) when the edge is removed from the current circuit; the edge is removed for good when
 * the rise is below the threshold (or its absolute value, with absValue), and the current
 * objective moves with each accepted removal.
 * Order: receivers in reverse topological order (logits; then per layer from the last: the
 * MLP input, then v, k, q inputs of heads H-1..0); senders most recent first (MLP, then heads
 * H-1..0 of the latest layer, ..., the input last). A receiver whose node has no outgoing edge
 * left loses its incoming edges untested (ACDC skips dead nodes). The objective is recomputed
 * at the start of every receiver.
 * Departures: the q/k/v "direct" edges of ACDC are not separate edges here (EAP-IG's graph);
 * no remove_redundant pass (ACDC's main.py also runs without it). Dangling nodes are pruned
 * afterwards by selection.
 * Speed, with identical decisions: layer-resumed evaluation (everything before the receiver's
 * stage comes from a cached prefix) and speculative batching (the next k removals evaluated in
 * one batch, each assuming the earlier ones accepted; on a rejection the walk continues from
 * the edge after it).
 * Cost: one patched forward (from the receiver's stage on) per tested edge, batched k at a time,
 * plus one per receiver.
 *
 * Over candidates (`--candidates METHOD:K`; the EAP paper's "ACDC++", Syed et al. 2023): METHOD
 * (EAP or an EAP-IG variant, on the task metric whatever ACDC's objective) scores every edge
 * first; the candidates are the best edges by |score| (ties: the layout's order), as many as
 * it takes to have at least K on input-to-logits paths (the edge completing a path can bring
 * a few more), and only those (an edge on no such path carries nothing to the logits). Every other edge is removed from the start and never tested,
 * and the walk above runs over the candidates only. With K = every edge it is plain ACDC
 * (tested). Departure from the EAP paper's sketch: the connectivity rule (plain top K leaves
 * mostly disconnected edges at small K). Cost: the scoring method's, then one forward per
 * tested candidate plus one per receiver with candidates.
 */
import { yieldToEventLoop } from '../util/yield.js';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { receiverNode } from '../graph/names.js';
import { makeObjective } from '../patching/objective.js';
import { pruneDangling } from '../graph/selection.js';
import { eap } from './eap.js';
import { eapIg, eapIgActivations } from './eap-ig.js';

export interface AcdcCheckpoint {
  version: 1;
  key: string;
  /** index into the receiver order of the next receiver to process */
  next: number;
  mask: number[];
  scores: [string, number][];
  trace: DiscoveryResult['trace'];
  forwards: number;
  /** over candidates: the mask entries ACDC tests, the scoring's cost and seconds */
  candidates?: { entries: number[]; method: string; k: number; seconds: number; forwards: number; backwards: number };
}

/** The methods that can pick ACDC's candidates (they score every edge in one pass or a few). */
const SCORERS: Record<string, (ctx: DiscoveryContext, opts: MethodOptions) => Promise<DiscoveryResult>> = {
  eap, 'eap-ig': eapIg, 'eap-ig-inputs': eapIg, 'eap-ig-activations': eapIgActivations,
};

/**
 * `METHOD:K` of --candidates: the scoring method and how many edges of `total` to keep (K an
 * integer from 1, a fraction in (0, 1) of the edges, rounded, at least 1, or `all`).
 */
export function parseCandidates(spec: string, total: number): { method: string; k: number } {
  const i = spec.lastIndexOf(':');
  const method = i < 0 ? '' : spec.slice(0, i), ks = i < 0 ? '' : spec.slice(i + 1).trim();
  if (!(method in SCORERS)) throw new Error(`acdc: --candidates must be METHOD:K with METHOD one of ${Object.keys(SCORERS).join(', ')}, got '${spec}'`);
  if (ks === 'all') return { method, k: total };
  const x = ks === '' ? NaN : Number(ks);
  if (!(x > 0) || (x >= 1 && !Number.isInteger(x))) throw new Error(`acdc: --candidates K must be a whole number of edges from 1, a fraction below 1 or 'all', got '${ks}' in '${spec}'`);
  return { method, k: Math.min(total, x < 1 ? Math.max(1, Math.round(x * total)) : x) };
}

/**
 * The mask entries (receiver * S + sender) of the K edges that score highest by |score| under
 * the scoring method of `spec`, run on the task metric (KL's gradient vanishes at the clean run).
 */
async function candidateEntries(ctx: DiscoveryContext, opts: MethodOptions, spec: string): Promise<NonNullable<AcdcCheckpoint['candidates']>> {
  const lay = ctx.engine.layout;
  const S = lay.senders.length;
  const edges: { entry: number; key: string }[] = [];
  lay.receivers.forEach((r, ri) => lay.senders.forEach((s, si) => { if (lay.hasEdge(si, ri)) edges.push({ entry: ri * S + si, key: `${s}->${r}` }); }));
  const { method, k } = parseCandidates(spec, edges.length);
  const t = performance.now();
  const { objective } = ctx;
  const task = makeObjective('task', objective.task, objective.batch, objective.clean);
  const engine = ctx.scoringEngine?.() ?? ctx.engine;
  let scored: DiscoveryResult;
  try {
    scored = await SCORERS[method]({ ...ctx, engine, objective: task }, { steps: opts.steps });
  } finally {
    task.dispose();
    if (engine !== ctx.engine) engine.dispose();
  }
  const abs = (key: string) => Math.abs(scored.scores.get(key) ?? 0);
  const ranked = edges.map((e, i) => ({ ...e, i, a: abs(e.key) })).sort((x, y) => y.a - x.a || x.i - y.i);
  // The shortest prefix of the ranking whose edges on input-to-logits paths number K (or all
  // there are): an edge on no such path carries nothing to the logits, whatever ACDC decides.
  const connected = (n: number) => pruneDangling(ranked.slice(0, n).map((e) => e.key));
  const target = Math.min(k, connected(ranked.length).size);
  let lo = 0, hi = ranked.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (connected(mid).size >= target) hi = mid; else lo = mid + 1; }
  const chosen = connected(lo);
  const entries = ranked.slice(0, lo).filter((e) => chosen.has(e.key)).map((e) => e.entry).sort((x, y) => x - y);
  return { entries, method, k: entries.length, seconds: (performance.now() - t) / 1000, forwards: scored.forwards, backwards: scored.backwards };
}

/** ACDC's receiver order (row indices of the layout). */
export function acdcReceiverOrder(ctx: DiscoveryContext): number[] {
  const lay = ctx.engine.layout;
  const cfg = lay.cfg;
  const H = cfg.nHeads;
  const order = [lay.logitsRow];
  for (let l = cfg.nLayers - 1; l >= 0; l--) {
    if (!cfg.attnOnly) order.push(lay.mlpRow(l));
    for (const x of [2, 1, 0]) for (let h = H - 1; h >= 0; h--) order.push(lay.attnRow(l) + x * H + h);
  }
  return order;
}

/** ACDC's sender order for a receiver: most recent layer first, heads H-1..0, input last. */
export function acdcSenderOrder(ctx: DiscoveryContext, row: number): number[] {
  const lay = ctx.engine.layout;
  const out: number[] = [];
  for (let s = lay.senders.length - 1; s >= 0; s--) if (lay.hasEdge(s, row)) out.push(s);
  return out;
}

export async function acdc(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const { engine, objective } = ctx;
  const lay = engine.layout;
  const S = lay.senders.length;
  const threshold = opts.threshold ?? 0.01;
  if (!(threshold >= 0)) throw new Error(`acdc: --threshold must be a non-negative number, got ${opts.threshold}`);
  // speculation: at most what one batched run holds in memory (64 on toy models, 8 on GPT-2 small at 5 rows)
  const kMax = Math.max(1, Math.min(64, engine.maxCircuits));
  const k0 = Math.min(kMax, Math.max(1, Math.floor(opts.speculate ?? 1)));
  const useResume = opts.resume ?? true;
  const order = acdcReceiverOrder(ctx);
  let mask = engine.fullMask();
  const scores = new Map<string, number>();
  const trace: DiscoveryResult['trace'] = [];
  let forwards = 0;
  let start = 0;
  const key = opts.checkpointKey ?? '';
  let candidates: AcdcCheckpoint['candidates'];

  const saved = opts.resumeFrom ? await opts.resumeFrom.load() : null;
  if (saved !== null) {
    const where = opts.resumeFrom!.name;
    const ck = JSON.parse(saved) as AcdcCheckpoint;
    if (ck.version !== 1 || ck.key !== key) {
      throw new Error(`acdc: checkpoint ${where} belongs to another run (its settings: ${ck.key}; this run: ${key})`);
    }
    if (ck.mask.length !== mask.length) throw new Error(`acdc: checkpoint ${where} has a mask of ${ck.mask.length} entries, expected ${mask.length}`);
    mask = Float32Array.from(ck.mask);
    for (const [e, s] of ck.scores) scores.set(e, s);
    trace.push(...ck.trace);
    forwards = ck.forwards;
    start = ck.next;
    candidates = ck.candidates;
  }
  if (opts.candidates && !candidates) {
    candidates = await candidateEntries(ctx, opts, opts.candidates);
    // every other edge is removed from the start
    const keep = new Uint8Array(mask.length);
    for (const e of candidates.entries) keep[e] = 1;
    for (let i = 0; i < mask.length; i++) if (!keep[i]) mask[i] = 0;
  }
  // the senders ACDC tests for a receiver: all, or the candidates
  const isCandidate = candidates ? new Uint8Array(mask.length) : null;
  if (candidates && isCandidate) for (const e of candidates.entries) isCandidate[e] = 1;
  const testedSenders = (row: number): number[] => {
    const all = acdcSenderOrder(ctx, row);
    return isCandidate ? all.filter((s) => isCandidate[row * S + s] === 1) : all;
  };

  const totalEdges = order.reduce((a, r) => a + testedSenders(r).length, 0);
  let tested = trace.length;
  const kept = () => { let n = 0; for (let i = 0; i < mask.length; i++) n += mask[i]; return n; };
  // Which sender nodes still have an outgoing edge in the circuit.
  const hasOutgoing = (node: string): boolean => {
    const s = lay.senderIndex.get(node);
    if (s === undefined) return true;
    for (let r = 0; r < lay.receivers.length; r++) if (mask[r * S + s] === 1) return true;
    return false;
  };

  let prefix: { dispose(): void } | null = null;
  let prefixStage = -1;
  const evalMasks = async (masks: Float32Array[]): Promise<number[]> => {
    const logits = await engine.run(masks, useResume && prefix ? { from: prefix } : {});
    try {
      return await objective.evaluate(logits);
    } finally {
      logits.dispose();
      forwards += masks.length;
    }
  };

  try {
    for (let oi = start; oi < order.length; oi++) {
      const row = order[oi];
      const receiver = lay.receivers[row];
      const node = receiverNode(receiver);
      const senders = testedSenders(row);
      if (senders.length === 0) {
        // over candidates: nothing to test here (no forward spent)
      } else if (node !== 'logits' && !hasOutgoing(node)) {
        // dead node: drop its inputs untested
        for (const s of senders) mask[row * S + s] = 0;
        tested += senders.length;
      } else {
        const stage = engine.stageOfRow(row);
        if (useResume && stage !== prefixStage) {
          prefix?.dispose();
          prefix = await engine.prefix(mask, stage);
          prefixStage = stage;
        }
        let cur = (await evalMasks([mask]))[0];
        let i = 0;
        let k = k0;
        while (i < senders.length) {
          const cand = senders.slice(i, i + k);
          const masks: Float32Array[] = [];
          let m = mask;
          for (const s of cand) { m = m.slice(); m[row * S + s] = 0; masks.push(m); }
          const vals = await evalMasks(masks);
          let j = 0;
          for (; j < cand.length; j++) {
            const edge = `${lay.senders[cand[j]]}->${receiver}`;
            let result = vals[j] - cur;
            if (opts.absValue) result = Math.abs(result);
            scores.set(edge, result);
            tested++;
            if (result < threshold) {
              mask[row * S + cand[j]] = 0;
              cur = vals[j];
              trace.push({ edge, score: result, kept: false });
            } else {
              trace.push({ edge, score: result, kept: true });
              break;
            }
          }
          if (j === cand.length) { i += cand.length; k = Math.min(k * 2, kMax); }
          else { i += j + 1; k = Math.max(1, Math.min(k0, j + 1)); }
          ctx.onProgress?.({ done: tested, total: totalEdges, kept: kept() });
        }
      }
      if (opts.checkpoint) {
        const ck: AcdcCheckpoint = { version: 1, key, next: oi + 1, mask: Array.from(mask), scores: [...scores], trace, forwards, ...(candidates ? { candidates } : {}) };
        await opts.checkpoint.save(JSON.stringify(ck));
      }
      await yieldToEventLoop(); // an interrupt lands here, after the checkpoint
    }
  } finally {
    prefix?.dispose();
  }

  const circuit = new Set<string>();
  lay.receivers.forEach((r, ri) => lay.senders.forEach((s, si) => { if (lay.hasEdge(si, ri) && mask[ri * S + si] === 1) circuit.add(`${s}->${r}`); }));
  if (!candidates) return { method: 'acdc', scores, circuit, forwards, backwards: 0, trace };
  return {
    method: 'acdc', scores, circuit, forwards: forwards + candidates.forwards, backwards: candidates.backwards, trace,
    candidates: { method: candidates.method, k: candidates.k, seconds: candidates.seconds },
  };
}
