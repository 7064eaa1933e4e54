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
 */
import { yieldToEventLoop } from '../util/yield.js';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { receiverNode } from '../graph/names.js';

export interface AcdcCheckpoint {
  version: 1;
  key: string;
  /** index into the receiver order of the next receiver to process */
  next: number;
  mask: number[];
  scores: [string, number][];
  trace: DiscoveryResult['trace'];
  forwards: number;
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
  const k0 = Math.max(1, Math.floor(opts.speculate ?? 1));
  const useResume = opts.resume ?? true;
  const order = acdcReceiverOrder(ctx);
  let mask = engine.fullMask();
  const scores = new Map<string, number>();
  const trace: DiscoveryResult['trace'] = [];
  let forwards = 0;
  let start = 0;
  const key = opts.checkpointKey ?? '';

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
  }

  const totalEdges = order.reduce((a, r) => a + acdcSenderOrder(ctx, r).length, 0);
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
      const senders = acdcSenderOrder(ctx, row);
      if (node !== 'logits' && !hasOutgoing(node)) {
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
          if (j === cand.length) { i += cand.length; k = Math.min(k * 2, 64); }
          else { i += j + 1; k = Math.max(1, Math.min(k0, j + 1)); }
          ctx.onProgress?.({ done: tested, total: totalEdges, kept: kept() });
        }
      }
      if (opts.checkpoint) {
        const ck: AcdcCheckpoint = { version: 1, key, next: oi + 1, mask: Array.from(mask), scores: [...scores], trace, forwards };
        await opts.checkpoint.save(JSON.stringify(ck));
      }
      await yieldToEventLoop(); // an interrupt lands here, after the checkpoint
    }
  } finally {
    prefix?.dispose();
  }

  const circuit = new Set<string>();
  lay.receivers.forEach((r, ri) => lay.senders.forEach((s, si) => { if (lay.hasEdge(si, ri) && mask[ri * S + si] === 1) circuit.add(`${s}->${r}`); }));
  return { method: 'acdc', scores, circuit, forwards, backwards: 0, trace };
}
