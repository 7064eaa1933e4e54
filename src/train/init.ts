/** Seeded initial weights for training (TransformerLens names and shapes). */
import type { ModelConfig } from '../model/config.js';
import { expectedShapes, hostTensor, type StateDict } from '../model/weights.js';
import { Rng } from '../util/rng.js';

/** Gaussian from the project's seeded Rng (Box-Muller). */
export function gaussian(rng: Rng): number {
  const u = rng.next() || 1e-12, v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Initial weights: matrices N(0, std^2) with std = `scale / sqrt(fan_in)` (W_E, W_pos: `scale /
 * sqrt(dModel)`), output projections (W_O, W_out) further divided by sqrt(2 nLayers) as GPT-2
 * does; LayerNorm weights 1; biases 0. Names are visited in `expectedShapes` order, so the
 * result is a function of (cfg, seed, scale).
 */
export function initStateDict(cfg: ModelConfig, seed: number, scale = 1): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = new Map();
  const resid = Math.sqrt(2 * cfg.nLayers);
  for (const [name, shape] of expectedShapes(cfg)) {
    const t = hostTensor(shape);
    if (/\.w$/.test(name)) t.data.fill(1);
    else if (/\.b(_\w+)?$/.test(name) || /b_U$/.test(name)) { /* zero */ }
    else {
      let std: number;
      if (name === 'embed.W_E' || name === 'pos_embed.W_pos') std = scale / Math.sqrt(cfg.dModel);
      else if (/attn\.W_[QKV]$/.test(name)) std = scale / Math.sqrt(cfg.dModel);
      else if (/attn\.W_O$/.test(name)) std = scale / Math.sqrt(cfg.nHeads * cfg.dHead) / resid;
      else if (/mlp\.W_in$/.test(name)) std = scale / Math.sqrt(cfg.dModel);
      else if (/mlp\.W_out$/.test(name)) std = scale / Math.sqrt(cfg.dMlp!) / resid;
      else std = scale / Math.sqrt(cfg.dModel); // unembed.W_U
      for (let i = 0; i < t.data.length; i++) t.data[i] = gaussian(rng) * std;
    }
    sd.set(name, t);
  }
  return sd;
}
