/**
 * Whether the WebGPU suite can run here, decided once (global-setup.ts) and handed to the test
 * files through vitest's provide / inject. Without an adapter the suite skips, with one line on
 * stderr saying why; with CI=true it fails instead (test/webgpu/adapter.test.ts).
 */
import type { WebgpuAdapterInfo } from '../../src/model/backend.js';

export interface WebgpuGate {
  ok: boolean;
  /** the driver found (scripts/swiftshader-env.mjs) and the adapter, or why there is none */
  reason: string;
  adapter: WebgpuAdapterInfo | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    webgpu: WebgpuGate;
  }
}

/** CI=true (or 1): the suite must run, a skip is a failure. */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(true|1)$/i.test(env.CI ?? '');
}
