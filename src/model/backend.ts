/**
 * tfjs backend selection in Node. Every entry point calls `initBackend` once before touching
 * tensors.
 *
 * `auto` takes the first of AUTO_ORDER that is usable: webgpu on a hardware adapter, tfjs-node-gpu,
 * tfjs-node (optionalDependencies, imported only when installed), wasm, cpu; never a software
 * WebGPU adapter such as SwiftShader, which only `--backend webgpu` uses. `auto` looks at the
 * adapter from a short child process first (`probeWebgpu`): Dawn prints its driver warnings on
 * stderr when there is no GPU, and that noise stays in the child. The decision is the pure
 * `chooseBackend` (backend-choice.ts); `circuitscope backends` prints it. The initialisation
 * itself is ./backend-core.ts, which a browser worker calls with its own host.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AUTO_ORDER, type BackendName, type BackendProbe } from './backend-choice.js';
import { initBackendWith, tryBackend, type BackendHost } from './backend-core.js';
import { installed, probeWebgpu } from './backend-probe.js';

export {
  AUTO_ORDER, BACKENDS, autoAccepts, chooseBackend, describeAdapter, softwareAdapter,
  type BackendChoice, type BackendName, type BackendProbe, type ConcreteBackend, type WebgpuAdapterInfo,
} from './backend-choice.js';
export { backendChoice, backendName, matMulBT, tf, webgpuAdapterInfo, type BackendHost } from './backend-core.js';
export { probeWebgpu } from './backend-probe.js';

const require = createRequire(import.meta.url);

/** Node: packages from node_modules, the wasm binaries beside tfjs-backend-wasm, Dawn in a child process. */
export const NODE_BACKEND_HOST: BackendHost = Object.freeze({
  installed,
  importPackage: (pkg: string) => import(pkg),
  wasmPaths: () => join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/',
  probeWebgpu: () => probeWebgpu(),
});

/**
 * Every backend probed, for `circuitscope backends`: webgpu through `probeWebgpu` (nothing
 * initialised here), the others by initialising them in this process (the last one initialised
 * stays active: call this in a process that does nothing else).
 */
export async function probeAllBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const b of AUTO_ORDER) out.push(b === 'webgpu' ? await probeWebgpu() : await tryBackend(NODE_BACKEND_HOST, b));
  return out;
}

/** Initialise (once) and return the tfjs backend's name ('tensorflow' for node / node-gpu).
 * Throws, saying why, when a requested backend (or, for `auto`, every one) cannot start. */
export function initBackend(name: BackendName = 'auto'): Promise<string> {
  return initBackendWith(name, NODE_BACKEND_HOST);
}
