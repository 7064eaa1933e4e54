/**
 * globalSetup of the `webgpu` vitest project (vitest.config.ts): looks for a WebGPU adapter once,
 * from a child process started with the project's environment (the Vulkan driver found by
 * scripts/swiftshader-env.mjs), and provides the verdict to the test files. When there is none
 * it prints the one line saying why.
 */
import type { TestProject } from 'vitest/node';
import { probeWebgpu } from '../../src/model/backend-probe.js';
import { inCi, type WebgpuGate } from './gate.js';

export default async function setup(project: TestProject): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(project.config.env as Record<string, string>) };
  const driver = env.CIRCUITSCOPE_VULKAN_NOTE ?? 'Vulkan driver: not looked for (run through vitest.config.ts)';
  let gate: WebgpuGate;
  if (env.CIRCUITSCOPE_VULKAN === 'none') {
    gate = { ok: false, reason: driver, adapter: null };
  } else {
    const p = await probeWebgpu({ env });
    gate = p.available && p.adapter ? { ok: true, reason: `${driver}; ${p.detail}`, adapter: p.adapter } : { ok: false, reason: `${driver}; ${p.detail}`, adapter: null };
  }
  if (!gate.ok) {
    process.stderr.write(`webgpu suite: ${inCi(env) ? 'FAILS (CI=true requires it)' : 'skipped'}: ${gate.reason}\n`);
  }
  project.provide('webgpu', gate);
}
