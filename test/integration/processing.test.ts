/**
 * Weight processing leaves the model's log-probs unchanged (TOL.component = 1e-5 on
 * log-softmax over the fixture's 50,257-token vocabulary), each step alone and all together.
 */
import { beforeAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadStateDict } from '../../src/model/load-model.js';
import { applyProcessing } from '../../src/model/processing.js';
import { HookedTransformer } from '../../src/model/transformer.js';
import type { ModelConfig } from '../../src/model/config.js';
import type { StateDict } from '../../src/model/weights.js';
import { TOL, expectClose } from '../helpers.js';
import { FIXTURE_MODEL, fixtureTokens, readReference } from '../fixture.js';

let cfg: ModelConfig;
let sd: StateDict;
let tokens: number[][];
let base: Float32Array;

function logProbs(c: ModelConfig, s: StateDict): Float32Array {
  const m = HookedTransformer.fromStateDict(c, s);
  try {
    return tf.tidy(() => tf.logSoftmax(m.forward(tokens)).dataSync() as Float32Array);
  } finally { m.dispose(); }
}

beforeAll(async () => {
  await initBackend('wasm');
  const r = await loadStateDict(FIXTURE_MODEL);
  cfg = r.config; sd = r.stateDict;
  tokens = [fixtureTokens(readReference())[0]];
  base = logProbs(cfg, sd);
});

describe('weight processing', () => {
  for (const steps of [['foldLayerNorm'], ['centerWritingWeights'], ['centerUnembed'], ['foldValueBiases'],
    ['foldLayerNorm', 'centerWritingWeights', 'centerUnembed', 'foldValueBiases']]) {
    it(`${steps.join(' + ')} keeps log-probs (1e-5)`, () => {
      const p = applyProcessing(cfg, sd, steps);
      expect(p.stateDict).not.toBe(sd);
      if (steps.includes('foldLayerNorm')) expect(p.config.normalizationType).toBe('LNPre');
      expectClose(logProbs(p.config, p.stateDict), base, TOL.component, steps.join('+'));
    });
  }

  it('processing actually changes the weights (the test above can fail)', () => {
    const p = applyProcessing(cfg, sd, ['centerUnembed']);
    const a = sd.get('unembed.W_U')!.data, b = p.stateDict.get('unembed.W_U')!.data;
    let diff = 0; for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-3);
    // and a wrong transform (centering W_U over d_model instead of the vocabulary) is caught
    const bad = new Map(sd);
    const W = sd.get('unembed.W_U')!; const D = W.shape[0], V = W.shape[1];
    const d = new Float32Array(W.data);
    for (let v = 0; v < V; v++) { let m = 0; for (let i = 0; i < D; i++) m += d[i * V + v]; m /= D; for (let i = 0; i < D; i++) d[i * V + v] -= m; }
    bad.set('unembed.W_U', { shape: W.shape, data: d });
    expect(() => expectClose(logProbs(cfg, bad), base, TOL.component)).toThrow();
  });

  it('rejects unknown steps and steps the architecture cannot take', () => {
    expect(() => applyProcessing(cfg, sd, ['foldEverything'])).toThrow(/unknown step 'foldEverything'/);
    const folded = applyProcessing(cfg, sd, ['foldLayerNorm']);
    expect(() => applyProcessing(folded.config, folded.stateDict, ['foldLayerNorm'])).toThrow(/foldLayerNorm needs LayerNorm/);
  });
});
