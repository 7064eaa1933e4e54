/**
 * HookedTransformer: a TransformerLens-style transformer on tfjs. It owns its parameter
 * tensors (dispose() frees them). forward / runWithCache / runWithHooks take tokens
 * [batch, pos] and return logits [batch, pos, dVocabOut]. Each layer is block.ts's
 * `transformerBlock`, its hook points prefixed `blocks.{l}.`, run in its own tf.tidy (the wasm
 * heap is bounded), so only the residual stream and requested activations survive.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.js';
import type { StateDict } from './weights.js';
import { hostTensor, validateStateDict } from './weights.js';
import { blockPrefix, hook } from './hook-names.js';
import { linear } from './components.js';
import { embedResidual, fuseQKV, normalize, transformerBlock, type BlockHooks, type BlockParams } from './block.js';

export type HookFn = (x: tf.Tensor, name: string) => tf.Tensor | void;
export type HookSpec = [name: string | ((name: string) => boolean), fn: HookFn];
export type NamesFilter = string[] | ((name: string) => boolean);

/** A layer's parameters with every fast-path form precomputed (block.ts BlockParams). */
export type LayerParams = Required<BlockParams>;

export interface ModelParams {
  WE: tf.Tensor2D; Wpos: tf.Tensor2D;
  layers: LayerParams[];
  lnfw: tf.Tensor1D | null; lnfb: tf.Tensor1D | null;
  WU: tf.Tensor2D; bU: tf.Tensor1D;
}

/** Activations kept by runWithCache; owns its tensors. */
export class ActivationCache {
  constructor(readonly tensors: Map<string, tf.Tensor>) {}
  get(name: string): tf.Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`cache: no activation '${name}' (cached: ${[...this.tensors.keys()].slice(0, 8).join(', ')}${this.tensors.size > 8 ? ', ...' : ''})`);
    return t;
  }
  has(name: string): boolean { return this.tensors.has(name); }
  keys(): string[] { return [...this.tensors.keys()]; }
  dispose(): void { for (const t of this.tensors.values()) t.dispose(); this.tensors.clear(); }
}

interface RunCtx {
  hooks: HookSpec[];
  cache: Map<string, tf.Tensor> | null;
  filter: ((name: string) => boolean) | null;
}

function matches(sel: string | ((n: string) => boolean), name: string): boolean {
  return typeof sel === 'string' ? sel === name : sel(name);
}

export class HookedTransformer {
  private disposed = false;
  private constructor(readonly cfg: ModelConfig, readonly params: ModelParams, readonly processing: readonly string[]) {}

  /** Build from a TransformerLens-named state dict (validated against cfg). */
  static fromStateDict(cfg: ModelConfig, sd: StateDict, opts: { source?: string; processing?: readonly string[] } = {}): HookedTransformer {
    const v = validateStateDict(cfg, sd, opts.source ?? cfg.modelName);
    const t = (name: string) => { const h = v.get(name)!; return tf.tensor(h.data, h.shape as number[], 'float32'); };
    const opt = (name: string) => (v.has(name) ? t(name) : null);
    const { nHeads: H, dHead: Dh, dModel: D } = cfg;
    const layers: LayerParams[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `blocks.${l}`;
      const WQ = t(`${p}.attn.W_Q`) as tf.Tensor3D, WK = t(`${p}.attn.W_K`) as tf.Tensor3D, WV = t(`${p}.attn.W_V`) as tf.Tensor3D;
      const bQ = t(`${p}.attn.b_Q`) as tf.Tensor2D, bK = t(`${p}.attn.b_K`) as tf.Tensor2D, bV = t(`${p}.attn.b_V`) as tf.Tensor2D;
      const WO = t(`${p}.attn.W_O`) as tf.Tensor3D;
      const base: BlockParams = {
        ln1w: opt(`${p}.ln1.w`) as tf.Tensor1D | null, ln1b: opt(`${p}.ln1.b`) as tf.Tensor1D | null,
        ln2w: opt(`${p}.ln2.w`) as tf.Tensor1D | null, ln2b: opt(`${p}.ln2.b`) as tf.Tensor1D | null,
        WQ, WK, WV, bQ, bK, bV, WO, bO: t(`${p}.attn.b_O`) as tf.Tensor1D,
        Win: opt(`${p}.mlp.W_in`) as tf.Tensor2D | null, bin: opt(`${p}.mlp.b_in`) as tf.Tensor1D | null,
        Wout: opt(`${p}.mlp.W_out`) as tf.Tensor2D | null, bout: opt(`${p}.mlp.b_out`) as tf.Tensor1D | null,
      };
      const [WQKV, bQKV, WOflat] = tf.tidy(() => {
        const fused = fuseQKV(base);
        return [fused.W, fused.b, tf.reshape(WO, [H * Dh, D]) as tf.Tensor2D];
      });
      layers.push({
        ...base, WQKV, bQKV, WOflat,
        WQh: tf.unstack(WQ) as tf.Tensor2D[], WKh: tf.unstack(WK) as tf.Tensor2D[], WVh: tf.unstack(WV) as tf.Tensor2D[], WOh: tf.unstack(WO) as tf.Tensor2D[],
      });
    }
    const params: ModelParams = {
      WE: t('embed.W_E') as tf.Tensor2D, Wpos: t('pos_embed.W_pos') as tf.Tensor2D, layers,
      lnfw: opt('ln_final.w') as tf.Tensor1D | null, lnfb: opt('ln_final.b') as tf.Tensor1D | null,
      WU: t('unembed.W_U') as tf.Tensor2D, bU: t('unembed.b_U') as tf.Tensor1D,
    };
    return new HookedTransformer(cfg, params, Object.freeze([...(opts.processing ?? [])]));
  }

  /**
   * The parameters as a TransformerLens-named host state dict (copies; weight processing is
   * already in them): `fromStateDict(cfg, await model.stateDict(), { processing })` rebuilds the
   * model, e.g. in a worker thread. The reads are started together and awaited once.
   */
  async stateDict(): Promise<StateDict> {
    const entries: [string, tf.Tensor][] = [];
    const put = (name: string, t: tf.Tensor | null) => { if (t) entries.push([name, t]); };
    const p = this.params;
    put('embed.W_E', p.WE); put('pos_embed.W_pos', p.Wpos);
    p.layers.forEach((l, i) => {
      const b = `blocks.${i}`;
      put(`${b}.ln1.w`, l.ln1w); put(`${b}.ln1.b`, l.ln1b); put(`${b}.ln2.w`, l.ln2w); put(`${b}.ln2.b`, l.ln2b);
      put(`${b}.attn.W_Q`, l.WQ); put(`${b}.attn.W_K`, l.WK); put(`${b}.attn.W_V`, l.WV); put(`${b}.attn.W_O`, l.WO);
      put(`${b}.attn.b_Q`, l.bQ); put(`${b}.attn.b_K`, l.bK); put(`${b}.attn.b_V`, l.bV); put(`${b}.attn.b_O`, l.bO);
      put(`${b}.mlp.W_in`, l.Win); put(`${b}.mlp.b_in`, l.bin); put(`${b}.mlp.W_out`, l.Wout); put(`${b}.mlp.b_out`, l.bout);
    });
    put('ln_final.w', p.lnfw); put('ln_final.b', p.lnfb); put('unembed.W_U', p.WU); put('unembed.b_U', p.bU);
    // data() may hand back the backend's own buffer (cpu): copy it.
    const host = await Promise.all(entries.map(([, t]) => t.data()));
    return new Map(entries.map(([name, t], i) => [name, hostTensor(t.shape, Float32Array.from(host[i] as Float32Array))]));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const all: (tf.Tensor | null)[] = [this.params.WE, this.params.Wpos, this.params.lnfw, this.params.lnfb, this.params.WU, this.params.bU];
    for (const l of this.params.layers) for (const v of Object.values(l)) all.push(...(Array.isArray(v) ? v : [v]));
    for (const t of all) t?.dispose();
  }

  /** Token ids [B, T] as an int32 tensor; validates ids and length against the config. */
  toTokenTensor(tokens: number[][] | tf.Tensor2D): tf.Tensor2D {
    if (tokens instanceof tf.Tensor) {
      if (tokens.rank !== 2) throw new Error(`model: tokens must be [batch, pos], got rank ${tokens.rank}`);
      if (tokens.shape[1] > this.cfg.nCtx) throw new Error(`model: sequence length ${tokens.shape[1]} exceeds nCtx ${this.cfg.nCtx}`);
      return tokens.dtype === 'int32' ? tokens.clone() : tf.cast(tokens, 'int32');
    }
    if (tokens.length === 0) throw new Error('model: empty token batch');
    const T = tokens[0].length;
    if (T === 0) throw new Error('model: empty sequence');
    if (T > this.cfg.nCtx) throw new Error(`model: sequence length ${T} exceeds nCtx ${this.cfg.nCtx}`);
    const flat = new Int32Array(tokens.length * T);
    tokens.forEach((row, i) => {
      if (row.length !== T) throw new Error(`model: token rows differ in length (row 0 has ${T}, row ${i} has ${row.length})`);
      row.forEach((id, j) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.cfg.dVocab) throw new Error(`model: token id ${id} at [${i}, ${j}] is outside the vocabulary [0, ${this.cfg.dVocab})`);
        flat[i * T + j] = id;
      });
    });
    return tf.tensor2d(flat, [tokens.length, T], 'int32');
  }

  forward(tokens: number[][] | tf.Tensor2D): tf.Tensor3D {
    return this.run(tokens, { hooks: [], cache: null, filter: null });
  }

  runWithHooks(tokens: number[][] | tf.Tensor2D, hooks: HookSpec[]): tf.Tensor3D {
    return this.run(tokens, { hooks, cache: null, filter: null });
  }

  /** Logits plus the activations whose names pass `names` (all when omitted). */
  runWithCache(tokens: number[][] | tf.Tensor2D, opts: { names?: NamesFilter; hooks?: HookSpec[] } = {}): { logits: tf.Tensor3D; cache: ActivationCache } {
    const names = opts.names;
    const filter = !names ? () => true : Array.isArray(names) ? ((s: Set<string>) => (n: string) => s.has(n))(new Set(names)) : names;
    const cache = new Map<string, tf.Tensor>();
    try {
      const logits = this.run(tokens, { hooks: opts.hooks ?? [], cache, filter });
      return { logits, cache: new ActivationCache(cache) };
    } catch (e) {
      for (const t of cache.values()) t.dispose();
      throw e;
    }
  }

  /**
   * Value of `metric(logits)` and its gradient with respect to the named activations (e.g.
   * `blocks.0.hook_resid_pre`). Each named activation gets a zero offset tensor added at its
   * hook point; the gradient with respect to the offset is the gradient with respect to the
   * activation. Returns the value as a host number (one read, after the backward pass) and
   * gradient tensors the caller owns.
   */
  async gradients(tokens: number[][] | tf.Tensor2D, names: string[], metric: (logits: tf.Tensor3D) => tf.Scalar, hooks: HookSpec[] = []): Promise<{ value: number; grads: Map<string, tf.Tensor> }> {
    // First pass: shapes of the named activations.
    const shapes = new Map<string, number[]>();
    const probe: HookSpec[] = names.map((n) => [n, (x: tf.Tensor) => { shapes.set(n, x.shape); }]);
    tf.dispose(this.runWithHooks(tokens, [...hooks, ...probe]));
    for (const n of names) if (!shapes.has(n)) throw new Error(`model: no hook point named '${n}'`);
    const deltas = names.map((n) => tf.zeros(shapes.get(n)!));
    let value: tf.Scalar, grads: tf.Tensor[];
    try {
      const f = (...ds: tf.Tensor[]) => {
        const add: HookSpec[] = names.map((n, i) => [n, (x: tf.Tensor) => tf.add(x, ds[i])]);
        return metric(this.runWithHooks(tokens, [...hooks, ...add]));
      };
      ({ value, grads } = tf.valueAndGrads(f)(deltas));
    } finally {
      tf.dispose(deltas);
    }
    try {
      const v = (await value.data())[0];
      return { value: v, grads: new Map(names.map((n, i) => [n, grads[i]])) };
    } catch (e) {
      tf.dispose(grads);
      throw e;
    } finally {
      value.dispose();
    }
  }

  /**
   * The final residual stream [B, T, D] (before ln_final), with hooks. With `unembed` it is the
   * forward split in two, so a caller can pick positions before the (vocabulary-sized) unembedding.
   */
  residualWithHooks(tokens: number[][] | tf.Tensor2D, hooks: HookSpec[] = []): tf.Tensor3D {
    return this.runResidual(tokens, { hooks, cache: null, filter: null });
  }

  /** ln_final and the unembedding of residuals [..., D] -> logits [..., dVocabOut] (no hooks). */
  unembed(x: tf.Tensor): tf.Tensor {
    const P = this.params;
    return tf.tidy(() => linear(normalize(x, P.lnfw, P.lnfb, this.cfg).out, P.WU, P.bU));
  }

  private run(tokensIn: number[][] | tf.Tensor2D, ctx: RunCtx): tf.Tensor3D {
    const resid = this.runResidual(tokensIn, ctx);
    try {
      return tf.tidy(() => {
        const r = normalize(resid, this.params.lnfw, this.params.lnfb, this.cfg);
        let x = r.out;
        if (r.scale !== null) {
          this.hookPoint(ctx, hook.lnFinalScale, r.scale);
          x = this.hookPoint(ctx, hook.lnFinalNormalized, r.out);
        }
        return linear(x, this.params.WU, this.params.bU) as tf.Tensor3D;
      });
    } finally {
      resid.dispose();
    }
  }

  private hookPoint(ctx: RunCtx, name: string, x: tf.Tensor): tf.Tensor {
    let y = x;
    for (const [sel, fn] of ctx.hooks) {
      if (!matches(sel, name)) continue;
      const r = fn(y, name);
      if (r) {
        if (r.shape.length !== y.shape.length || r.shape.some((s, i) => s !== y.shape[i])) {
          throw new Error(`model: hook on '${name}' returned shape [${r.shape}] instead of [${y.shape}]`);
        }
        y = r;
      }
    }
    if (ctx.cache && ctx.filter!(name)) {
      // A hook point can fire more than once (ln1 in the split q/k/v path): the last value wins.
      ctx.cache.get(name)?.dispose();
      ctx.cache.set(name, tf.keep(y.clone()));
    }
    return y;
  }

  private runResidual(tokensIn: number[][] | tf.Tensor2D, ctx: RunCtx): tf.Tensor3D {
    if (this.disposed) throw new Error('model: used after dispose()');
    const cfg = this.cfg;
    const P = this.params;
    const hooked = ctx.cache !== null || ctx.hooks.length > 0;
    const wants = (name: string) => (ctx.cache !== null && ctx.filter!(name)) || ctx.hooks.some(([s]) => matches(s, name));
    const hp = (name: string, x: tf.Tensor): tf.Tensor => this.hookPoint(ctx, name, x);

    const tokens = this.toTokenTensor(tokensIn);
    const [B, T] = tokens.shape;
    let qkPos: tf.Tensor | null = null;
    let resid = tf.tidy(() => {
      const embed = hp(hook.embed, tf.gather(P.WE, tokens));
      const r = embedResidual(embed, hp(hook.posEmbed, tf.broadcastTo(tf.slice(P.Wpos, [0, 0], [T, cfg.dModel]), [B, T, cfg.dModel])), cfg);
      if (r.qkPos) qkPos = tf.keep(r.qkPos);
      return r.resid;
    });
    tokens.dispose();
    let ok = false;
    try {
      for (let l = 0; l < cfg.nLayers; l++) {
        // Hook points by module path: the block names them inside blocks.{l}.
        const prefix = blockPrefix(l);
        const hooks: BlockHooks | undefined = hooked ? { at: (n, x) => hp(prefix + n, x), wants: (n) => wants(prefix + n) } : undefined;
        const next = tf.tidy(() => transformerBlock(P.layers[l], cfg, resid, { qkPos, hooks }));
        resid.dispose();
        resid = next;
      }
      ok = true;
      return resid as tf.Tensor3D;
    } finally {
      if (!ok) resid.dispose();
      (qkPos as tf.Tensor | null)?.dispose();
    }
  }
}
