/**
 * The model's next-token prediction for one prompt: the top k of the logits at the last
 * position, with softmax probabilities over the whole output vocabulary (float64). Used by the
 * CLI's `logits` and the web app's worker alike.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from './tokenizer.js';
import type { HookedTransformer } from './transformer.js';

export interface TopToken { id: number; token: string; logit: number; prob: number }

/** A token id as text; an output id beyond the input vocabulary prints as the id. */
export function tokenString(tokenizer: Tokenizer, id: number): string {
  try {
    return tokenizer.idToString(id);
  } catch {
    return String(id);
  }
}

/** Top-k of the logits at the last position, with softmax probabilities over the full vocab. */
export async function nextTokenTop(model: HookedTransformer, tokens: number[], k: number, tokenizer: Tokenizer): Promise<TopToken[]> {
  const last = tf.tidy(() => {
    const logits = model.forward([tokens]);
    const [, T, V] = logits.shape;
    return tf.reshape(tf.slice(logits, [0, T - 1, 0], [1, 1, V]), [V]);
  });
  const row = (await last.data()) as Float32Array;
  last.dispose();
  let max = -Infinity;
  for (const x of row) if (x > max) max = x;
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const logZ = max + Math.log(sum);
  const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, Math.min(k, row.length));
  return order.map((id) => ({ id, token: tokenString(tokenizer, id), logit: row[id], prob: Math.exp(row[id] - logZ) }));
}
