/**
 * How the engine starts tfjs in a browser worker (the app's worker and its engine threads): the
 * wasm binaries come from the app's own server, WebGPU is looked at through navigator.gpu, no
 * optional Node package exists.
 */
import type { BackendHost } from '../src/model/backend-core.js';
import { probeNavigatorGpu, type BackendProbe } from '../src/model/backend-choice.js';

export function browserHost(base: string): BackendHost {
  return {
    installed: () => false,
    // one thread per tfjs instance: tfjs-wasm's pthread workers cannot load a bundled module
    // worker (see BackendHost); the engine's own threads (./engine-threads.ts) split the prompts
    wasmThreads: false,
    importPackage: (pkg) => Promise.reject(new Error(`web: ${pkg} does not run in a browser`)),
    wasmPaths: () => new URL('tfjs-wasm/', base).href,
    probeWebgpu: async (): Promise<BackendProbe> => (await probeNavigatorGpu()) ?? { backend: 'webgpu', available: false, detail: 'this browser has no WebGPU (navigator.gpu)' },
  };
}
