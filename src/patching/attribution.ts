/**
 * Edge attribution from one plain forward and backward of the model (EAP, and EAP-IG's
 * "inputs" variant), without the edge-masked forward.
 *
 * For the full circuit every receiver's input is the clean run's: each head's q/k/v input is
 * the residual stream before its layer (plus the positional embedding for shortformer q/k), the
 * MLP's input the residual after attention, the logits' input the final residual. What differs
 * between receivers is only the path the gradient takes: dMetric/dx_r for head h's q input is
 * the gradient at hook_q for that head, through W_Q[h] and the layer's LayerNorm (whose
 * backward is linear in the upstream gradient, so it runs once for all heads on [B,T,H,D]).
 * So one forward with zero offsets at hook_q/k/v, hook_mlp_in and the final residual, and one
 * backward, give every receiver's gradient; the attribution of edge u -> r is then
 *   sum_{b,t} (out_u(clean) - out_u(ablated)) . dMetric/dx_r
 * = one matmul [S, B*T*D] x [B*T*D, receivers] per receiver block. That is exactly the
 * gradient of the metric with respect to the engine's zero-valued probe mask (eap.ts), which
 * the tests check; the probe's forward holds H per-head copies of every LayerNorm on the tape,
 * this forward holds the model's own.
 *
 * EAP-IG-inputs: step k runs with the input embedding interpolated to ablated + alpha_k (clean -
 * ablated), i.e. the full circuit with the input senders' edges scaled by alpha_k (eap-ig.ts).
 * EAP-IG-activations: the same for each sender group in turn (the input, attention layer l,
 * MLP l): its output moved to ablated + alpha_k (clean - ablated), the full circuit with the
 * group's edges scaled by alpha_k; a step of group g scores only g's edges, whose receivers
 * all come after g, so one backward serves all of them.
 */
import { yieldToEventLoop } from '../util/yield.js';
import * as tf from '@tensorflow/tfjs';
import { hook } from '../model/hook-names.js';
import { attentionInputGrads, qkInput } from '../model/block.js';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import type { PatchLayout } from '../graph/layout.js';

/** Senders interpolated together; steps of the group score the edges of columns [c0, c1). */
interface Group { kind: 'input' | 'attn' | 'mlp'; layer?: number; c0: number; c1: number }

/** What attribution needs of an engine (PatchingEngine is one). */
export interface AttributionSubject {
  readonly model: HookedTransformer;
  readonly layout: PatchLayout;
  readonly clean: number[][];
  readonly B: number;
  readonly T: number;
  fullMask(): Float32Array;
  /** every sender's clean - ablated output, [S, B*T*D] (the caller owns it) */
  senderDeltaMatrix(): tf.Tensor2D;
  /** residuals [B, T, D] at the metric positions: [1, B, K, D] */
  atMetricPositions(x: tf.Tensor3D): tf.Tensor4D;
}

/** LayerNorm's input gradient (defined with LayerNorm, src/model/components.ts). */
export { layerNormBackward } from '../model/components.js';

/**
 * What EAP-IG interpolates between the ablated and the clean run (docs/methods.md):
 * - 'inputs' (EAP-IG-inputs): the input embedding; every edge is scored in every step.
 * - 'activations' (EAP-IG-activations): one sender group at a time (the input; attention layer
 *   l, all heads; MLP l), its output set to ablated + alpha (clean - ablated) while the rest of
 *   the model runs on; each sender's edges are scored from the steps of its own group.
 */
export type Interpolation = 'inputs' | 'activations';

/**
 * d metric / d probe [R * S] (receiver-major, 0 where no edge), averaged over the steps
 * `alphas` (1 = EAP; k/m for k < m = EAP-IG-inputs; k/m for k = 1..m with 'activations' =
 * EAP-IG-activations). `metric` takes logits [1, B, K, V] at the engine's metric positions and
 * returns the batch-mean scalar.
 *
 * 'inputs': one forward and backward per alpha. 'activations': one per sender group and alpha,
 * m (1 + 2L) in all (m (1 + L) without MLPs), as EAP-IG's repository; the backward of group g's
 * step stops at g (only the receivers after it are asked for), so the backwards cost about half
 * as much as full ones.
 */
export async function attributionGradient(engine: AttributionSubject, metric: (logits: tf.Tensor4D) => tf.Scalar, alphas: number[] = [1], interpolate: Interpolation = 'inputs'): Promise<Float64Array> {
  const model = engine.model;
  const cfg = model.cfg;
  const lay = engine.layout;
  const { B, T } = engine;
  const { nHeads: H, dModel: D, dHead: Dh, nLayers: NL } = cfg;
  const R = lay.receivers.length, S = lay.senders.length;
  const shortformer = cfg.positionalEmbeddingType === 'shortformer';
  const splitPos = lay.splitEmbed && shortformer;
  const BTD = B * T * D;
  const out = new Float64Array(R * S);
  const exists = engine.fullMask();
  const delta = engine.senderDeltaMatrix(); // [S, BTD] clean - ablated
  const P = model.params;
  try {
    // The sender groups that are interpolated, each with the columns whose edges its steps score.
    const groups: Group[] = [{ kind: 'input', c0: 0, c1: interpolate === 'inputs' ? S : lay.nIn }];
    if (interpolate === 'activations') {
      for (let l = 0; l < NL; l++) {
        const a0 = lay.sendersBeforeAttn(l);
        groups.push({ kind: 'attn', layer: l, c0: a0, c1: a0 + H });
        if (!cfg.attnOnly) groups.push({ kind: 'mlp', layer: l, c0: lay.mlpCol(l), c1: lay.mlpCol(l) + 1 });
      }
    }
    for (const group of groups) {
      // the group's clean - ablated output, which a step at alpha removes (1 - alpha) of
      const shifts = groupDeltas(group);
      try {
        for (const alpha of alphas) {
          const grads = stepGradients(alpha, group, shifts);
          // Every needed receiver block's [cols, BTD] x [BTD, nr] contraction, flattened into one
          // vector: one read per step.
          let flat: tf.Tensor1D;
          try {
            flat = tf.tidy(() => tf.concat(grads.map(({ ncols, g }) => tf.reshape(tf.matMul(tf.slice(delta, [group.c0, 0], [Math.min(ncols, group.c1) - group.c0, BTD]), g), [-1]))) as tf.Tensor1D);
          } finally {
            for (const x of grads) x.g.dispose();
          }
          let d: Float32Array;
          try { d = (await flat.data()) as Float32Array; } finally { flat.dispose(); }
          await yieldToEventLoop(); // timers, signals and messages get their turn between steps
          let at = 0;
          for (const { row, ncols, g } of grads) {
            const nr = g.shape[1];
            const nc = Math.min(ncols, group.c1) - group.c0;
            for (let s = 0; s < nc; s++) for (let i = 0; i < nr; i++) {
              const o = (row + i) * S + group.c0 + s;
              if (exists[o] === 1) out[o] += d[at + s * nr + i] / alphas.length;
            }
            at += nc * nr;
          }
        }
      } finally {
        tf.dispose(shifts.map((x) => x.d));
      }
    }

    /** Hooks' deltas [B, T, D] of a group's output: where to subtract (1 - alpha) of each. */
    function groupDeltas(group: Group): { name: string; d: tf.Tensor }[] {
      const sum = (c: number, n: number) => tf.tidy(() => tf.reshape(tf.sum(tf.slice(delta, [c, 0], [n, BTD]), 0), [B, T, D]));
      if (group.kind === 'attn') return [{ name: hook.attnOut(group.layer!), d: sum(group.c0, H) }];
      if (group.kind === 'mlp') return [{ name: hook.mlpOut(group.layer!), d: sum(group.c0, 1) }];
      // Input deltas: into resid_pre(0), and (split shortformer) the positions, which enter q/k.
      const ds = [{ name: hook.residPre(0), d: sum(0, splitPos ? 1 : lay.nIn) }];
      if (splitPos) ds.push({ name: hook.posEmbed, d: sum(1, 1) });
      return ds;
    }

    /**
     * Receiver gradients of one step: blocks of rows from `row`, as [BTD, rows] matrices, for
     * the receivers that read `group` (those after it: the backward stops at its layer).
     */
    function stepGradients(alpha: number, group: Group, shifts: { name: string; d: tf.Tensor }[]): { row: number; ncols: number; g: tf.Tensor2D }[] {
      const names: string[] = [];
      for (let l = 0; l < NL; l++) {
        if (lay.sendersBeforeAttn(l) > group.c0) names.push(hook.q(l), hook.k(l), hook.v(l));
        if (!cfg.attnOnly && lay.sendersBeforeMlp(l) > group.c0) names.push(hook.mlpIn(l));
      }
      names.push(hook.residPost(NL - 1));
      const shapes = names.map((n) => (n.endsWith('hook_q') || n.endsWith('hook_k') || n.endsWith('hook_v') ? [B, T, H, Dh] : [B, T, D]));
      const offsets = shapes.map((s) => tf.zeros(s));
      const stash = new Map<string, tf.Tensor>();
      const keep = (n: string): HookSpec => [n, (x) => { stash.get(n)?.dispose(); stash.set(n, tf.keep(x.clone())); }];
      try {
        const f = (...ds: tf.Tensor[]) => {
          const hooks: HookSpec[] = [];
          if (alpha !== 1) for (const { name, d } of shifts) hooks.push([name, (x) => tf.sub(x, tf.mul(d, 1 - alpha))]);
          for (let l = 0; l < NL; l++) hooks.push(keep(hook.residPre(l)));
          if (shortformer) hooks.push(keep(hook.posEmbed));
          names.forEach((n, i) => hooks.push([n, (x) => tf.add(x, ds[i])]));
          const resid = model.residualWithHooks(engine.clean, hooks);
          const logits = model.unembed(engine.atMetricPositions(resid)) as tf.Tensor4D;
          return metric(logits);
        };
        const { value, grads } = tf.valueAndGrads(f)(offsets);
        value.dispose();
        const byName = new Map(names.map((n, i) => [n, grads[i]]));
        try {
          return receiverBlocks(byName, stash);
        } finally {
          tf.dispose(grads);
        }
      } finally {
        tf.dispose(offsets);
        for (const t of stash.values()) t.dispose();
      }
    }

    function receiverBlocks(g: Map<string, tf.Tensor>, stash: Map<string, tf.Tensor>): { row: number; ncols: number; g: tf.Tensor2D }[] {
      const blocks: { row: number; ncols: number; g: tf.Tensor2D }[] = [];
      for (let l = 0; l < NL; l++) {
        if (g.has(hook.q(l))) blocks.push({
          row: lay.attnRow(l), ncols: lay.sendersBeforeAttn(l),
          g: tf.tidy(() => {
            const pre = stash.get(hook.residPre(l))!;
            const { q, k, v } = attentionInputGrads(P.layers[l], cfg,
              { q: g.get(hook.q(l))! as tf.Tensor4D, k: g.get(hook.k(l))! as tf.Tensor4D, v: g.get(hook.v(l))! as tf.Tensor4D },
              { qk: qkInput(pre, shortformer ? stash.get(hook.posEmbed)! : null, cfg), v: pre });
            // rows q heads, k heads, v heads -> [BTD, 3H]
            return tf.reshape(tf.transpose(tf.stack([q, k, v], 3), [0, 1, 4, 3, 2]), [BTD, 3 * H]) as tf.Tensor2D;
          }),
        });
        if (g.has(hook.mlpIn(l))) blocks.push({ row: lay.mlpRow(l), ncols: lay.sendersBeforeMlp(l), g: tf.tidy(() => tf.reshape(g.get(hook.mlpIn(l))!, [BTD, 1]) as tf.Tensor2D) });
      }
      blocks.push({ row: lay.logitsRow, ncols: S, g: tf.tidy(() => tf.reshape(g.get(hook.residPost(NL - 1))!, [BTD, 1]) as tf.Tensor2D) });
      return blocks;
    }
    for (const v of out) if (!Number.isFinite(v)) throw new Error('attribution: the gradient is NaN or infinite (check the metric and the prompts)');
    return out;
  } finally {
    delta.dispose();
  }
}
