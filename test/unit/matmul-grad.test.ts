/**
 * The BatchMatMul gradient registered in backend.ts (explicit transposes, broadcast batch
 * reduction) against a float64 reference: f(a, b) = sum(W * op(a) op(b)) is linear in each
 * input, so df/da[i] = f(a + e_i, b) - f(a, b) exactly. Tolerance 1e-4 (float32 sums of ~10 terms).
 */
import { beforeAll, describe, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers.js';

beforeAll(async () => { await initBackend('wasm'); });

/** float64 batched matmul with transposes and batch broadcasting over one leading axis. */
function naive(a: number[], as: number[], b: number[], bs: number[], tA: boolean, tB: boolean, W: number[]): number {
  const [Ba, ra, ca] = as, [Bb, rb, cb] = bs;
  const B = Math.max(Ba, Bb);
  const M = tA ? ca : ra, K = tA ? ra : ca, N = tB ? rb : cb;
  let f = 0;
  for (let x = 0; x < B; x++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) {
      const av = a[(Ba === 1 ? 0 : x) * ra * ca + (tA ? k * ca + i : i * ca + k)];
      const bv = b[(Bb === 1 ? 0 : x) * rb * cb + (tB ? j * cb + k : k * cb + j)];
      s += av * bv;
    }
    f += W[(x * M + i) * N + j] * s;
  }
  return f;
}

describe('BatchMatMul gradient', () => {
  const rng = new Rng(2);
  const rnd = (n: number) => Array.from({ length: n }, () => rng.next() * 2 - 1);
  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    for (const [Ba, Bb] of [[3, 3], [3, 1], [1, 3]]) {
      it(`transposeA=${tA} transposeB=${tB}, batch ${Ba}x${Bb}`, () => {
        const M = 4, K = 5, N = 3, B = Math.max(Ba, Bb);
        const as = tA ? [Ba, K, M] : [Ba, M, K], bs = tB ? [Bb, N, K] : [Bb, K, N];
        const a = rnd(as.reduce((x, y) => x * y)), b = rnd(bs.reduce((x, y) => x * y)), W = rnd(B * M * N);
        const [ga, gb] = tf.tidy(() => {
          const Wt = tf.tensor3d(W, [B, M, N]);
          const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(Wt, tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, tA, tB))) as tf.Scalar);
          return g([tf.tensor3d(a, as as [number, number, number]), tf.tensor3d(b, bs as [number, number, number])]).map((t) => Array.from(t.dataSync()));
        });
        const f0 = naive(a, as, b, bs, tA, tB, W);
        const refA = a.map((_, i) => { const a2 = a.slice(); a2[i] += 1; return naive(a2, as, b, bs, tA, tB, W) - f0; });
        const refB = b.map((_, i) => { const b2 = b.slice(); b2[i] += 1; return naive(a, as, b2, bs, tA, tB, W) - f0; });
        expectClose(ga, refA, 1e-4, 'da');
        expectClose(gb, refB, 1e-4, 'db');
      });
    }
  }
  it('2-D, few rows against a wide matrix: the (b d^T)^T path', () => {
    // M (N + K) < K N selects the transposed-product form of d b^T.
    const M = 2, K = 9, N = 11;
    const a = rnd(M * K), b = rnd(K * N), W = rnd(M * N);
    const [ga, gb] = tf.tidy(() => {
      const Wt = tf.tensor2d(W, [M, N]);
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(Wt, tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D))) as tf.Scalar);
      return g([tf.tensor2d(a, [M, K]), tf.tensor2d(b, [K, N])]).map((t) => Array.from(t.dataSync()));
    });
    const f0 = naive(a, [1, M, K], b, [1, K, N], false, false, W);
    expectClose(ga, a.map((_, i) => { const a2 = a.slice(); a2[i] += 1; return naive(a2, [1, M, K], b, [1, K, N], false, false, W) - f0; }), 1e-4, 'da');
    expectClose(gb, b.map((_, i) => { const b2 = b.slice(); b2[i] += 1; return naive(a, [1, M, K], b2, [1, K, N], false, false, W) - f0; }), 1e-4, 'db');
  });
});
