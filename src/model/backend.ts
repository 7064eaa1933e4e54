/**
 * tfjs backend selection. Every entry point calls `initBackend` once before touching tensors.
 * Order for `auto`: node-gpu > node > webgpu > wasm > cpu (the first that initialises).
 * tfjs-node / tfjs-node-gpu are optionalDependencies and are only imported when asked for or
 * when `auto` finds them installed; webgpu needs Dawn's `webgpu` package and a GPU adapter.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'webgpu', 'node', 'node-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

const require = createRequire(import.meta.url);

async function tryNode(gpu: boolean): Promise<string | null> {
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await import(pkg);
  } catch {
    return null;
  }
  const name = gpu ? 'tensorflow' : 'tensorflow';
  return (await tf.setBackend(name)) ? name : null;
}

async function tryWebgpu(): Promise<string | null> {
  try {
    const g = globalThis as unknown as Record<string, unknown>;
    const nav = g.navigator as { gpu?: unknown } | undefined;
    if (!nav?.gpu) {
      const webgpuPkg = 'webgpu';
      const dawn = (await import(webgpuPkg)) as { create: (flags: string[]) => unknown; globals: object };
      Object.assign(globalThis, dawn.globals);
      const gpu = dawn.create([]);
      if (!g.navigator) {
        Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
      } else {
        Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      }
    }
    await import('@tensorflow/tfjs-backend-webgpu');
    return (await tf.setBackend('webgpu')) ? 'webgpu' : null;
  } catch {
    return null;
  }
}

async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    wasm.setWasmPaths(join(dir, 'dist') + '/');
    return (await tf.setBackend('wasm')) ? 'wasm' : null;
  } catch {
    return null;
  }
}

async function tryCpu(): Promise<string | null> {
  return (await tf.setBackend('cpu')) ? 'cpu' : null;
}

let active: string | null = null;
let gradsPatched = false;

/** Transpose the last two axes. */
function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  return tf.transpose(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
}

/** Sum a gradient over the batch axes its input was broadcast along. */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  let y = lead > 0 ? tf.sum(g, Array.from({ length: lead }, (_, i) => i)) : g;
  const axes: number[] = [];
  shape.forEach((d, i) => { if (d === 1 && y.shape[i] !== 1) axes.push(i); });
  if (axes.length) y = tf.sum(y, axes, true);
  return tf.reshape(y, shape);
}

/**
 * d [M,N] x b^T for b [K,N], with explicit transposes: of b, or (when M (N + K) < K N, the
 * usual case of a few tokens against a weight matrix) of d and of the result, as (b d^T)^T.
 * Measured on wasm, M = 90: [768,50257] W_U 339 ms vs 970 ms transposing W_U (3.5 s with the
 * transposeB flag); [3072,768] 21 vs 46 ms.
 */
export function matMulBT(d: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (d.rank === 2 && b.rank === 2) {
    const [M, N] = d.shape, K = b.shape[0];
    if (M * (N + K) < K * N) return tf.transpose(tf.matMul(b as tf.Tensor2D, tf.transpose(d) as tf.Tensor2D));
  }
  return tf.matMul(d, swapLast(b));
}

/**
 * BatchMatMul's gradient with explicit transposes. tfjs-core's own gradient uses the
 * transposeA/transposeB flags, which the wasm backend runs 13-20x slower than a plain matmul
 * after an explicit transpose (measured here: [2048,768]^T [2048,2304] 6.3 s vs 0.32 s). Also
 * reduces over broadcast batch axes, which the stock gradient does not.
 */
function patchMatMulGradient(): void {
  if (gradsPatched) return;
  gradsPatched = true;
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const d = dy as tf.Tensor;
      let da: () => tf.Tensor, db: () => tf.Tensor;
      if (!transposeA && !transposeB) { da = () => matMulBT(d, b); db = () => tf.matMul(swapLast(a), d); }
      else if (!transposeA && transposeB) { da = () => tf.matMul(d, b); db = () => tf.matMul(swapLast(d), a); }
      else if (transposeA && !transposeB) { da = () => tf.matMul(b, swapLast(d)); db = () => tf.matMul(a, d); }
      else { da = () => tf.matMul(swapLast(b), swapLast(d)); db = () => tf.matMul(swapLast(d), swapLast(a)); }
      return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
    },
  });
}

/**
 * The wasm backend's Identity kernel copies its input; the cpu backend's shares the buffer (a
 * reference count, as wasm's own Reshape does). tfjs clones every tensor an op saves for its
 * gradient through Identity, so under a gradient tape on wasm each saved activation and each
 * weight matrix it touches was copied: 1.5 GB of copies for one GPT-2-small EAP prompt (its
 * unembedding alone 147 MB), most of the tape. Tensors are immutable, so sharing is exact.
 */
let identityPatched = false;
function patchWasmIdentity(): void {
  if (identityPatched) return;
  identityPatched = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = (inputs as { x: tf.TensorInfo }).x;
      (backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/** Initialise (once) and return the tfjs backend's name. Throws naming the backend when a
 * requested one cannot start. */
export async function initBackend(name: BackendName = 'auto'): Promise<string> {
  if (active && (name === 'auto' || name === active || (name === 'node' && active === 'tensorflow'))) return active;
  const tries: Record<Exclude<BackendName, 'auto'>, () => Promise<string | null>> = {
    'node-gpu': () => tryNode(true),
    node: () => tryNode(false),
    webgpu: tryWebgpu,
    wasm: tryWasm,
    cpu: tryCpu,
  };
  const order: Exclude<BackendName, 'auto'>[] =
    name === 'auto' ? ['node-gpu', 'node', 'webgpu', 'wasm', 'cpu'] : [name];
  // `auto` skips webgpu unless asked: probing Dawn on a machine with no GPU is slow and noisy.
  for (const b of order) {
    if (name === 'auto' && b === 'webgpu' && !process.env.CIRCUITSCOPE_TRY_WEBGPU) continue;
    const got = await tries[b]();
    if (got) {
      await tf.ready();
      patchMatMulGradient();
      if (got === 'wasm') patchWasmIdentity();
      active = got;
      return got;
    }
  }
  throw new Error(`backend: '${name}' could not be initialised` +
    (name === 'node' || name === 'node-gpu' ? ' (install @tensorflow/tfjs-node or -node-gpu)' : ''));
}

export function backendName(): string {
  return active ?? tf.getBackend();
}

export { tf };
