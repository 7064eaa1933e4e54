/**
 * tfjs backend initialisation, without Node: `initBackendWith(name, host)` tries the backends
 * `name` allows (see ./backend-choice.ts for the order and the pure choice) and patches the
 * kernels the engine relies on. What differs between Node and a browser is the `host`: whether
 * an optional package is installed, where the wasm binaries are, how the WebGPU adapter is
 * looked at before initialising it. ./backend.ts is Node's entry point (`initBackend`); a
 * browser worker calls `initBackendWith` with its own host.
 */
import * as tf from '@tensorflow/tfjs';
import { freeingBackprop } from './backprop.js';
import {
  AUTO_ORDER, adapterInfo, autoAccepts, chooseBackend, describeAdapter, firstLine, softwareAdapter,
  type BackendChoice, type BackendName, type BackendProbe, type ConcreteBackend, type Gpu, type WebgpuAdapterInfo,
} from './backend-choice.js';

/** What initialising a backend needs to know about where it runs. */
export interface BackendHost {
  /** whether an optional package (tfjs-node, tfjs-node-gpu, Dawn's `webgpu`) can be imported here */
  installed(pkg: string): boolean;
  /** import such a package (Node: `import(pkg)`; the engine names no Node package itself, so bundlers leave them out) */
  importPackage(pkg: string): Promise<unknown>;
  /** the folder holding tfjs-backend-wasm's .wasm files, ending in '/' (a path in Node, a URL in a browser) */
  wasmPaths(): string;
  /** the WebGPU adapter, looked at without initialising anything here (`auto` looks first) */
  probeWebgpu(): Promise<BackendProbe>;
  /**
   * false: run wasm on one thread even where threads are available. Emscripten's pthread workers
   * load the main script with importScripts, which a bundled module worker (the browser app) is
   * not; there the threaded build fails to start.
   */
  wasmThreads?: boolean;
}

async function tryNode(host: BackendHost, gpu: boolean): Promise<BackendProbe> {
  const backend = gpu ? 'node-gpu' : 'node';
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  if (!host.installed(pkg)) return { backend, available: false, detail: `${pkg} is not installed` };
  try {
    await host.importPackage(pkg);
  } catch (e) {
    return { backend, available: false, detail: `${pkg} did not load: ${firstLine(e)}` };
  }
  return (await tf.setBackend('tensorflow'))
    ? { backend, available: true, detail: `${pkg} (native TensorFlow${gpu ? ', CUDA' : ''})` }
    : { backend, available: false, detail: `${pkg} loaded but its backend did not initialise` };
}

let webgpuAdapter: WebgpuAdapterInfo | null = null;

async function tryWebgpu(host: BackendHost): Promise<BackendProbe> {
  const backend = 'webgpu' as const;
  try {
    const g = globalThis as unknown as Record<string, unknown>;
    const nav = g.navigator as { gpu?: Gpu } | undefined;
    if (!nav?.gpu) {
      if (!host.installed('webgpu')) return { backend, available: false, detail: g.window || g.WorkerGlobalScope ? 'this browser has no WebGPU (navigator.gpu)' : "Dawn's `webgpu` package is not installed" };
      const dawn = (await host.importPackage('webgpu')) as { create: (flags: string[]) => unknown; globals: object };
      Object.assign(globalThis, dawn.globals);
      const gpu = dawn.create([]);
      if (!g.navigator) {
        Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
      } else {
        Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      }
    }
    const gpu = (g.navigator as { gpu: Gpu }).gpu;
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) return { backend, available: false, detail: 'no WebGPU adapter (no GPU driver found; see `circuitscope backends`)' };
    const info = adapterInfo(a);
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) return { backend, available: false, detail: `tfjs-backend-webgpu did not initialise on ${describeAdapter(info)}`, adapter: info };
    webgpuAdapter = info;
    const sw = softwareAdapter(info);
    return { backend, available: true, detail: `adapter ${describeAdapter(info)}${sw ? ` (software: ${sw})` : ''}`, adapter: info };
  } catch (e) {
    return { backend, available: false, detail: firstLine(e) };
  }
}

async function tryWasm(host: BackendHost): Promise<BackendProbe> {
  const backend = 'wasm' as const;
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(host.wasmPaths());
    if (host.wasmThreads === false) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    if (!(await tf.setBackend('wasm'))) return { backend, available: false, detail: 'tfjs-backend-wasm did not initialise' };
    const flag = async (f: string) => { try { return Boolean(await tf.env().getAsync(f)); } catch { return false; } };
    const [simd, threads] = [await flag('WASM_HAS_SIMD_SUPPORT'), await flag('WASM_HAS_MULTITHREAD_SUPPORT')];
    return { backend, available: true, detail: `tfjs-backend-wasm (SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'})` };
  } catch (e) {
    return { backend, available: false, detail: `tfjs-backend-wasm did not load: ${firstLine(e)}` };
  }
}

async function tryCpu(): Promise<BackendProbe> {
  return (await tf.setBackend('cpu'))
    ? { backend: 'cpu', available: true, detail: 'plain JavaScript kernels (tfjs-backend-cpu)' }
    : { backend: 'cpu', available: false, detail: 'tfjs-backend-cpu did not initialise' };
}

/** Initialise one backend here (the last one initialised stays active). */
export function tryBackend(host: BackendHost, b: ConcreteBackend): Promise<BackendProbe> {
  switch (b) {
    case 'node-gpu': return tryNode(host, true);
    case 'node': return tryNode(host, false);
    case 'webgpu': return tryWebgpu(host);
    case 'wasm': return tryWasm(host);
    case 'cpu': return tryCpu();
  }
}

let active: string | null = null;
let lastChoice: BackendChoice | null = null;
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

/** Replace a wasm kernel; `impl` may defer to the stock one (e.g. for strings). */
function replaceWasmKernel(name: string, impl: (args: Parameters<tf.KernelFunc>[0], stock: tf.KernelFunc) => ReturnType<tf.KernelFunc>): void {
  const stock = tf.getKernel(name, 'wasm');
  if (!stock) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: (args) => impl(args, stock.kernelFunc) });
}

/**
 * The wasm backend's Identity kernel copies its input; the cpu backend's shares the buffer (a
 * reference count, as wasm's own Reshape does). tfjs clones every tensor an op saves for its
 * gradient through Identity, so under a gradient tape on wasm each saved activation and each
 * weight matrix it touches was copied: 1.5 GB of copies for one GPT-2-small EAP prompt (its
 * unembedding alone 147 MB), most of the tape. Tensors are immutable, so sharing is exact.
 */
function identityShared(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = (args.inputs as { x: tf.TensorInfo }).x;
  (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * tfjs-backend-wasm's Slice reads its whole input into a fresh JS array (`readSync` copies the
 * heap range) before copying the slice out, so slicing k pieces of a tensor copies it k times
 * (16 row blocks of a [320, 12800] tensor: 160 ms instead of ~1 ms). This one copies from a
 * view of the heap. Output first: growing the heap detaches earlier views.
 */
type WasmHeap = { makeOutput(shape: number[], dtype: string): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array };

/** x[begin : begin + size] into a new wasm tensor, copying from heap views. */
function sliceFromHeap(backend: WasmHeap, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const shape = x.shape;
  const rank = shape.length;
  const b = shape.map((_, i) => begin[i] ?? 0);
  const sz = shape.map((d, i) => (size[i] === undefined || size[i] === -1 ? d - b[i] : size[i]));
  const out = backend.makeOutput(sz, x.dtype);
  const total = sz.reduce((p, q) => p * q, 1);
  if (total === 0) return out;
  const xv = backend.typedArrayFromHeap(x), ov = backend.typedArrayFromHeap(out);
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  // Fold the trailing axes that are taken whole into one contiguous run.
  let inner = rank - 1;
  while (inner > 0 && sz[inner] === shape[inner] && b[inner] === 0) inner--;
  const run = sz[inner] * strides[inner];
  const outer = total / run;
  const idx = new Array<number>(inner).fill(0);
  let base = 0;
  for (let i = 0; i <= inner; i++) base += b[i] * strides[i];
  for (let o = 0; o < outer; o++) {
    let off = base;
    for (let i = 0; i < inner; i++) off += idx[i] * strides[i];
    ov.set(xv.subarray(off, off + run), o * run);
    for (let i = inner - 1; i >= 0; i--) { if (++idx[i] < sz[i]) break; idx[i] = 0; }
  }
  return out;
}

let wasmPatched = false;
function patchWasmKernels(): void {
  if (wasmPatched) return;
  wasmPatched = true;
  replaceWasmKernel('Identity', identityShared);
  replaceWasmKernel('Slice', (args, stock) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string' || x.shape.length === 0) return stock(args);
    const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
    return sliceFromHeap(args.backend as unknown as WasmHeap, x, begin, size);
  });
  // SplitV (also concat's gradient) slices through the same copying path.
  replaceWasmKernel('SplitV', (args, stock) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string') return stock(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const sizes = typeof numOrSizeSplits === 'number' ? new Array<number>(numOrSizeSplits).fill(x.shape[ax] / numOrSizeSplits) : numOrSizeSplits.slice();
    const neg = sizes.indexOf(-1);
    if (neg >= 0) sizes[neg] = x.shape[ax] - sizes.reduce((p, q) => p + (q === -1 ? 0 : q), 0);
    const begin = x.shape.map(() => 0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[ax] = n;
      const t = sliceFromHeap(args.backend as unknown as WasmHeap, x, begin.slice(), size);
      begin[ax] += n;
      return t;
    });
  });
}

/** Initialise (once) and return the tfjs backend's name ('tensorflow' for node / node-gpu).
 * Throws, saying why, when a requested backend (or, for `auto`, every one) cannot start. */
export async function initBackendWith(name: BackendName, host: BackendHost): Promise<string> {
  if (active && (name === 'auto' || name === active || (name === 'node' && active === 'tensorflow'))) return active;
  const probes: BackendProbe[] = [];
  for (const b of name === 'auto' ? AUTO_ORDER : [name]) {
    if (name === 'auto' && b === 'webgpu') {
      // Look first from a child process; initialise here only for a hardware adapter.
      const seen = await host.probeWebgpu();
      if (!autoAccepts(seen).take) { probes.push(seen); continue; }
    }
    const p = await tryBackend(host, b);
    probes.push(p);
    if (p.available && (name !== 'auto' || autoAccepts(p).take)) {
      await tf.ready();
      patchMatMulGradient();
      freeingBackprop(true);
      if (b === 'wasm') patchWasmKernels();
      active = tf.getBackend();
      lastChoice = chooseBackend(name, probes);
      return active;
    }
  }
  const c = chooseBackend(name, probes);
  throw new Error(`backend: ${c.reason}` + (name === 'node' || name === 'node-gpu' ? ' (install @tensorflow/tfjs-node or -node-gpu)' : ''));
}

/** Why the active backend was chosen (null before initBackend). */
export function backendChoice(): BackendChoice | null {
  return lastChoice;
}

/** The WebGPU adapter the webgpu backend runs on (null when it has not been initialised). */
export function webgpuAdapterInfo(): WebgpuAdapterInfo | null {
  return webgpuAdapter;
}

export function backendName(): string {
  return active ?? tf.getBackend();
}

export { tf };
