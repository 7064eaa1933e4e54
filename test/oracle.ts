/**
 * The slow, obviously-correct edge-patching oracle: one whole-model forward with explicit
 * TransformerLens-style hooks. Every sender's output in the running forward is recorded at its
 * hook; every receiver input (q/k/v input per head, mlp_in, final resid_post) has the
 * difference (current - ablated) of each sender whose edge is NOT in the circuit subtracted.
 * It shares no code with src/patching except the edge naming.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer, HookSpec } from '../src/model/transformer.js';

export type OracleAblation = { kind: 'resample'; corrupt: number[][] } | { kind: 'zero' } | { kind: 'mean'; reference: number[][] };

function senderOutputs(model: HookedTransformer, tokens: number[][]): Map<string, tf.Tensor> {
  const cfg = model.cfg;
  const names: string[] = ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < cfg.nLayers; l++) names.push(`blocks.${l}.attn.hook_result`, `blocks.${l}.hook_mlp_out`);
  const { logits, cache } = model.runWithCache(tokens, { names });
  logits.dispose();
  const out = new Map<string, tf.Tensor>();
  const shortformer = cfg.positionalEmbeddingType === 'shortformer';
  out.set('tok', cache.get('hook_embed').clone());
  out.set('pos', cache.get('hook_pos_embed').clone());
  out.set('input', shortformer ? cache.get('hook_embed').clone() : tf.add(cache.get('hook_embed'), cache.get('hook_pos_embed')));
  for (let l = 0; l < cfg.nLayers; l++) {
    const r = cache.get(`blocks.${l}.attn.hook_result`);
    for (let h = 0; h < cfg.nHeads; h++) out.set(`a${l}.h${h}`, tf.tidy(() => tf.squeeze(tf.slice(r, [0, 0, h, 0], [-1, -1, 1, -1]), [2])));
    // MLP sender output without b_out (biases are constants, never patched)
    if (!cfg.attnOnly) out.set(`m${l}`, tf.sub(cache.get(`blocks.${l}.hook_mlp_out`), model.params.layers[l].bout!));
  }
  cache.dispose();
  return out;
}

/** Logits [B, T, V] of the circuit `edges` (keys like `a0.h1->a1.h0<q>`, `input->logits`). */
export function oracleLogits(model: HookedTransformer, clean: number[][], ablation: OracleAblation, edges: Set<string>, splitEmbed = false): tf.Tensor3D {
  const cfg = model.cfg;
  const B = clean.length;
  let ablated: Map<string, tf.Tensor>;
  if (ablation.kind === 'resample') ablated = senderOutputs(model, ablation.corrupt);
  else if (ablation.kind === 'mean') {
    const r = senderOutputs(model, ablation.reference);
    ablated = new Map([...r].map(([k, v]) => { const m = tf.tidy(() => tf.tile(tf.mean(v, 0, true), [B, 1, 1])); v.dispose(); return [k, m]; }));
  } else {
    const r = senderOutputs(model, clean);
    ablated = new Map([...r].map(([k, v]) => { const z = tf.zerosLike(v); v.dispose(); return [k, z]; }));
  }
  const current = new Map<string, tf.Tensor>();
  const shortformer = cfg.positionalEmbeddingType === 'shortformer';
  const inputs = splitEmbed ? ['tok', 'pos'] : ['input'];
  const senderList: { name: string; layer: number; mlp: boolean }[] = inputs.map((n) => ({ name: n, layer: -1, mlp: false }));
  for (let l = 0; l < cfg.nLayers; l++) {
    for (let h = 0; h < cfg.nHeads; h++) senderList.push({ name: `a${l}.h${h}`, layer: l, mlp: false });
    if (!cfg.attnOnly) senderList.push({ name: `m${l}`, layer: l, mlp: true });
  }
  /** senders upstream of a receiver at layer l (attn) / MLP l / logits (l = nLayers) */
  const upstream = (l: number, isMlp: boolean, qk: boolean, isLogits = false) => senderList.filter((s) => {
    if (s.name === 'pos' && shortformer) return qk && !isLogits;
    if (s.layer < 0) return true;
    return s.layer < l || (isMlp && s.layer === l && !s.mlp);
  });
  /** x - sum over missing edges (current - ablated) */
  const correct = (x: tf.Tensor, receiver: string, senders: { name: string }[]) => {
    let y = x;
    for (const s of senders) {
      if (edges.has(`${s.name}->${receiver}`)) continue;
      y = tf.sub(y, tf.sub(current.get(s.name)!, ablated.get(s.name)!));
    }
    return y;
  };
  const record = (name: string, t: tf.Tensor) => { current.get(name)?.dispose(); current.set(name, tf.keep(t.clone())); };
  const hooks: HookSpec[] = [
    ['hook_embed', (x) => { record('tok', x); if (shortformer) record('input', x); }],
    ['hook_pos_embed', (x) => { record('pos', x); if (!shortformer) record('input', tf.add(current.get('tok')!, x)); }],
  ];
  for (let l = 0; l < cfg.nLayers; l++) {
    for (const [x, qk] of [['q', true], ['k', true], ['v', false]] as const) {
      hooks.push([`blocks.${l}.hook_${x}_input`, (inp) => {
        const ups = upstream(l, false, qk);
        const heads = Array.from({ length: cfg.nHeads }, (_, h) =>
          correct(tf.squeeze(tf.slice(inp, [0, 0, h, 0], [-1, -1, 1, -1]), [2]), `a${l}.h${h}<${x}>`, ups));
        return tf.stack(heads, 2);
      }]);
    }
    hooks.push([`blocks.${l}.attn.hook_result`, (r) => {
      for (let h = 0; h < cfg.nHeads; h++) record(`a${l}.h${h}`, tf.squeeze(tf.slice(r, [0, 0, h, 0], [-1, -1, 1, -1]), [2]));
    }]);
    if (!cfg.attnOnly) {
      hooks.push([`blocks.${l}.hook_mlp_in`, (x) => correct(x, `m${l}`, upstream(l, true, false))]);
      hooks.push([`blocks.${l}.hook_mlp_out`, (x) => { record(`m${l}`, tf.sub(x, model.params.layers[l].bout!)); }]);
    }
  }
  hooks.push([`blocks.${cfg.nLayers - 1}.hook_resid_post`, (x) => correct(x, 'logits', upstream(cfg.nLayers, false, false, true))]);
  try {
    return model.runWithHooks(clean, hooks);
  } finally {
    tf.dispose([...current.values(), ...ablated.values()]);
  }
}
