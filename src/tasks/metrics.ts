/** Metric building blocks on logits at the metric positions, [B, K, V]. */
import * as tf from '@tensorflow/tfjs';

/**
 * logits[b, k, ids[b][k]] -> [B, K]. A one-hot product rather than a gather: the gather's
 * gradient (UnsortedSegmentSum) has no wasm kernel, and attribution differentiates metrics.
 */
export function pick(logits: tf.Tensor3D, ids: number[][]): tf.Tensor2D {
  return tf.tidy(() => {
    const V = logits.shape[2];
    const oh = tf.oneHot(tf.tensor2d(ids, undefined, 'int32'), V);
    return tf.sum(tf.mul(logits, oh), -1) as tf.Tensor2D;
  });
}

/** mean over rows and positions of logit(answer) - logit(wrong[0]) (IOI's logit difference). */
export function logitDiff(logits: tf.Tensor3D, answers: number[][], wrong: number[][][]): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(pick(logits, answers), pick(logits, wrong.map((r) => r.map((w) => w[0]))))) as tf.Scalar);
}

/** mean of logit(answer) - max over wrong tokens (docstring's metric). */
export function logitDiffMaxWrong(logits: tf.Tensor3D, answers: number[][], wrong: number[][][]): tf.Scalar {
  return tf.tidy(() => {
    const W = Math.max(...wrong.flat().map((w) => w.length));
    const cols = Array.from({ length: W }, (_, j) => pick(logits, wrong.map((r) => r.map((w) => w[Math.min(j, w.length - 1)]))));
    return tf.mean(tf.sub(pick(logits, answers), tf.max(tf.stack(cols, -1), -1))) as tf.Scalar;
  });
}

/** mean KL(clean || patched) over rows and positions, from logits [..., V]. */
export function klDivergence(cleanLogits: tf.Tensor, patchedLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const lp = tf.logSoftmax(cleanLogits), lq = tf.logSoftmax(patchedLogits);
    return tf.mean(tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1)) as tf.Scalar;
  });
}

/** fraction of (row, position) where the argmax is the answer. */
export function accuracy(logits: tf.Tensor3D, answers: number[][]): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.tensor2d(answers, undefined, 'int32')), 'float32')) as tf.Scalar);
}

/** mean log-prob of the answers (negative loss). */
export function answerLogProb(logits: tf.Tensor3D, answers: number[][]): tf.Scalar {
  return tf.tidy(() => tf.mean(pick(tf.logSoftmax(logits) as tf.Tensor3D, answers)) as tf.Scalar);
}
