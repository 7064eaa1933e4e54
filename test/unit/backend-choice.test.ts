/**
 * `--backend auto`'s choice (src/model/backend.ts chooseBackend, a pure function of the probes):
 * WebGPU only on a hardware adapter, never on SwiftShader or another fallback / software adapter
 * unless asked for by name; then tfjs-node-gpu, tfjs-node, wasm, cpu. And the `backends`
 * command's report of the same probes.
 */
import { describe, it, expect } from 'vitest';
import { AUTO_ORDER, autoAccepts, chooseBackend, softwareAdapter, type BackendProbe, type WebgpuAdapterInfo } from '../../src/model/backend.js';
import { backendsReport, formatBackendsReport } from '../../src/cli/commands/backends.js';

const SWIFTSHADER: WebgpuAdapterInfo = { vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true };
const NVIDIA: WebgpuAdapterInfo = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false };

const gpu = (adapter: WebgpuAdapterInfo | null): BackendProbe =>
  adapter ? { backend: 'webgpu', available: true, detail: 'Dawn adapter', adapter } : { backend: 'webgpu', available: false, detail: 'Dawn found no WebGPU adapter' };
const missing = (backend: 'node' | 'node-gpu'): BackendProbe => ({ backend, available: false, detail: `${backend} is not installed` });
const ok = (backend: BackendProbe['backend']): BackendProbe => ({ backend, available: true, detail: `${backend} ok` });

describe('softwareAdapter', () => {
  it('flags the fallback bit and software driver names, not hardware GPUs', () => {
    expect(softwareAdapter(SWIFTSHADER)).toBe("isFallbackAdapter, 'swiftshader'");
    // Named software drivers count even when the fallback bit is not set.
    expect(softwareAdapter({ ...SWIFTSHADER, isFallbackAdapter: false })).toBe("'swiftshader'");
    expect(softwareAdapter({ vendor: 'mesa', architecture: '', device: 'llvmpipe (LLVM 15.0.6, 256 bits)', description: '', isFallbackAdapter: false })).toBe("'llvmpipe'");
    expect(softwareAdapter({ vendor: 'mesa', architecture: '', device: '', description: 'lavapipe', isFallbackAdapter: false })).toBe("'lavapipe'");
    expect(softwareAdapter({ vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver', isFallbackAdapter: false })).toBe("'Basic Render Driver'");
    expect(softwareAdapter({ ...NVIDIA, isFallbackAdapter: true })).toBe('isFallbackAdapter');
    expect(softwareAdapter(NVIDIA)).toBeNull();
    expect(softwareAdapter({ vendor: 'apple', architecture: 'metal-3', device: '', description: 'Apple M2 Max', isFallbackAdapter: false })).toBeNull();
    expect(softwareAdapter({ vendor: 'intel', architecture: 'gen-12lp', device: '', description: 'Intel(R) UHD Graphics 770 (ADL-S GT1)', isFallbackAdapter: false })).toBeNull();
  });
});

const rest = [missing('node-gpu'), missing('node'), ok('wasm'), ok('cpu')];

describe('chooseBackend', () => {
  it('auto takes WebGPU on a hardware adapter first', () => {
    const c = chooseBackend('auto', [gpu(NVIDIA), ok('node-gpu'), ok('node'), ok('wasm'), ok('cpu')]);
    expect(c.backend).toBe('webgpu');
    expect(c.reason).toMatch(/hardware adapter nvidia \/ hopper \/ NVIDIA H100/);
    expect(c.passed).toEqual([]);
  });

  it('auto never takes SwiftShader: it goes on to wasm and says why', () => {
    const c = chooseBackend('auto', [gpu(SWIFTSHADER), ...rest]);
    expect(c.backend).toBe('wasm');
    expect(c.passed.map((p) => p.backend)).toEqual(['webgpu', 'node-gpu', 'node']);
    expect(c.passed[0].why).toMatch(/software adapter \(isFallbackAdapter, 'swiftshader'\)/);
    expect(c.reason).toMatch(/^wasm: .*passed over webgpu \(.*swiftshader/);
    // ...nor a fallback adapter whose name says nothing
    expect(chooseBackend('auto', [gpu({ ...NVIDIA, isFallbackAdapter: true }), ...rest]).backend).toBe('wasm');
  });

  it('a software adapter is used when webgpu is asked for by name', () => {
    const c = chooseBackend('webgpu', [gpu(SWIFTSHADER), ...rest]);
    expect(c.backend).toBe('webgpu');
    expect(c.reason).toMatch(/asked for by name/);
  });

  it('then tfjs-node-gpu, tfjs-node when installed, then wasm, then cpu', () => {
    expect(AUTO_ORDER).toEqual(['webgpu', 'node-gpu', 'node', 'wasm', 'cpu']);
    expect(chooseBackend('auto', [gpu(null), ok('node-gpu'), ok('node'), ok('wasm'), ok('cpu')]).backend).toBe('node-gpu');
    expect(chooseBackend('auto', [gpu(SWIFTSHADER), missing('node-gpu'), ok('node'), ok('wasm'), ok('cpu')]).backend).toBe('node');
    expect(chooseBackend('auto', [gpu(null), ...rest]).backend).toBe('wasm');
    const cpu = chooseBackend('auto', [gpu(null), missing('node-gpu'), missing('node'), { backend: 'wasm', available: false, detail: 'did not load' }, ok('cpu')]);
    expect(cpu.backend).toBe('cpu');
    expect(cpu.passed.map((p) => p.why)).toEqual(['Dawn found no WebGPU adapter', 'node-gpu is not installed', 'node is not installed', 'did not load']);
  });

  it('says why when nothing (or not the one asked for) is available', () => {
    const none = chooseBackend('auto', [gpu(null), missing('node-gpu'), missing('node')]);
    expect(none.backend).toBeNull();
    expect(none.reason).toMatch(/no backend could be initialised: webgpu \(Dawn found no WebGPU adapter\).*wasm \(not probed\)/);
    const asked = chooseBackend('webgpu', [gpu(null), ...rest]);
    expect(asked.backend).toBeNull();
    expect(asked.reason).toBe("'webgpu' could not be initialised: Dawn found no WebGPU adapter");
    expect(chooseBackend('node', rest).reason).toBe("'node' could not be initialised: node is not installed");
  });

  it('autoAccepts needs the adapter information for webgpu', () => {
    expect(autoAccepts({ backend: 'webgpu', available: true, detail: 'x' })).toEqual({ take: false, why: 'no adapter information' });
    expect(autoAccepts(ok('wasm'))).toEqual({ take: true, why: 'wasm ok' });
  });
});

describe('backends report', () => {
  it('lists each backend, the adapter and its kind, and both choices', () => {
    const r = backendsReport([gpu(SWIFTSHADER), ...rest], 'webgpu');
    expect(r.auto.backend).toBe('wasm');
    expect(r.requested?.backend).toBe('webgpu');
    expect(r.backends[0].software).toBe("isFallbackAdapter, 'swiftshader'");
    const text = formatBackendsReport(r);
    expect(text).toMatch(/^backend\s+available\s+detail\nwebgpu\s+yes\s+Dawn adapter\nnode-gpu\s+no\s+node-gpu is not installed/);
    expect(text).toMatch(/architecture\s+swiftshader/);
    expect(text).toMatch(/description\s+SwiftShader driver 5\.0\.0/);
    expect(text).toMatch(/fallback\s+yes/);
    expect(text).toMatch(/kind\s+software .*auto does not take it/);
    expect(text).toMatch(/--backend auto -> wasm: /);
    expect(text).toMatch(/--backend webgpu -> webgpu: asked for by name/);
    const hw = formatBackendsReport(backendsReport([gpu(NVIDIA), ...rest]));
    expect(hw).toMatch(/kind\s+hardware GPU/);
    expect(hw).toMatch(/--backend auto -> webgpu: hardware adapter/);
    expect(hw).not.toMatch(/--backend webgpu ->/);
  });
});
