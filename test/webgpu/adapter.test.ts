/**
 * The WebGPU suite's gate and the backend choice on a real adapter. Without an adapter the suite
 * skips (global-setup.ts says why in one line); with CI=true the first test fails instead. Under
 * SwiftShader: `--backend webgpu` runs on it, `--backend auto` does not take it, and
 * `circuitscope backends` says both.
 */
import { describe, it, expect } from 'vitest';
import { probeWebgpu, softwareAdapter } from '../../src/model/backend.js';
import { runCli } from '../helpers.js';
import { requireWebgpu, webgpuGate } from './gpu.js';

const gate = webgpuGate();

describe('webgpu adapter', () => {
  it('is found (CI=true requires it)', (ctx) => {
    requireWebgpu(ctx);
    expect(gate.adapter).not.toBeNull();
  });

  it.skipIf(!gate.ok)('probeWebgpu describes it; SwiftShader counts as software', async () => {
    const p = await probeWebgpu();
    expect(p.available).toBe(true);
    expect(p.adapter).toEqual(gate.adapter);
    if (process.env.CIRCUITSCOPE_VULKAN === 'swiftshader') {
      expect(p.adapter!.architecture).toBe('swiftshader');
      expect(p.adapter!.isFallbackAdapter).toBe(true);
      expect(softwareAdapter(p.adapter!)).toMatch(/swiftshader/);
    }
  });

  it.skipIf(!gate.ok)('`backends --json`: webgpu available; auto takes it only on a hardware adapter', async () => {
    const r = await runCli(['backends', '--json', '--backend', 'webgpu']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { backends: { backend: string; available: boolean; adapter?: unknown; software?: string | null }[]; auto: { backend: string; reason: string }; requested: { backend: string } };
    const gpu = j.backends.find((b) => b.backend === 'webgpu')!;
    expect(gpu.available).toBe(true);
    expect(gpu.adapter).toEqual(gate.adapter);
    expect(j.requested.backend).toBe('webgpu');
    if (gpu.software) {
      expect(j.auto.backend).not.toBe('webgpu');
      expect(j.auto.reason).toMatch(/passed over webgpu \(.*software adapter/);
    } else {
      expect(j.auto.backend).toBe('webgpu');
    }
  });
});
