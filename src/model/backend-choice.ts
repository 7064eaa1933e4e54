/**
 * Which tfjs backend `--backend` gets, without tfjs: the probe results' types, the pure choice
 * (`chooseBackend`: probes -> backend + reason) and the WebGPU adapter probe, which runs Dawn in a
 * child process. src/model/backend.ts initialises the backends and re-exports all of this.
 *
 * `auto` takes the first of AUTO_ORDER that is usable: webgpu on a hardware adapter, tfjs-node-gpu,
 * tfjs-node, wasm, cpu. A software or fallback WebGPU adapter (SwiftShader, llvmpipe, lavapipe,
 * WARP: a CPU running the GPU's programs, far slower than wasm) is never taken by `auto`;
 * `--backend webgpu` uses it all the same, which is how the WebGPU suite (test/webgpu) runs on
 * machines without a GPU.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'webgpu', 'node', 'node-gpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

/** What `auto` tries, in order. */
export const AUTO_ORDER: readonly ConcreteBackend[] = ['webgpu', 'node-gpu', 'node', 'wasm', 'cpu'];

/** A WebGPU adapter as GPUAdapter.info describes it. */
export interface WebgpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** What was found for one backend. */
export interface BackendProbe {
  backend: ConcreteBackend;
  available: boolean;
  /** why it is available (the package, the adapter) or not (not installed, the error) */
  detail: string;
  /** webgpu: the adapter, when one was found */
  adapter?: WebgpuAdapterInfo;
}

export interface BackendChoice {
  requested: BackendName;
  /** null when nothing usable was found */
  backend: ConcreteBackend | null;
  reason: string;
  /** auto: the backends tried before the chosen one and why each was passed over */
  passed: { backend: ConcreteBackend; why: string }[];
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|basic render driver|\bwarp\b/i;

/**
 * The evidence that this adapter is a software one (a CPU emulating a GPU): "isFallbackAdapter"
 * and/or the driver name found in vendor / architecture / device / description; null for a
 * hardware adapter.
 */
export function softwareAdapter(a: WebgpuAdapterInfo): string | null {
  const hit = [a.vendor, a.architecture, a.device, a.description].map((s) => SOFTWARE_ADAPTER.exec(s ?? '')?.[0]).find(Boolean);
  const why = [a.isFallbackAdapter ? 'isFallbackAdapter' : '', hit ? `'${hit}'` : ''].filter(Boolean);
  return why.length ? why.join(', ') : null;
}

/** "google / swiftshader / SwiftShader driver 5.0.0": vendor, architecture, description. */
export function describeAdapter(a: WebgpuAdapterInfo): string {
  return [a.vendor, a.architecture, a.description || a.device].map((s) => s || '?').join(' / ');
}

/** Whether `auto` takes this backend, and why (not). */
export function autoAccepts(p: BackendProbe): { take: boolean; why: string } {
  if (!p.available) return { take: false, why: p.detail };
  if (p.backend === 'webgpu') {
    if (!p.adapter) return { take: false, why: 'no adapter information' };
    const sw = softwareAdapter(p.adapter);
    if (sw) return { take: false, why: `${describeAdapter(p.adapter)} is a software adapter (${sw}); auto takes only a hardware GPU, --backend webgpu uses it` };
    return { take: true, why: `hardware adapter ${describeAdapter(p.adapter)}` };
  }
  return { take: true, why: p.detail };
}

/**
 * The backend a request gets, given what was found (pure). A backend asked for by name is taken
 * whenever it is available, a software WebGPU adapter included; `auto` takes the first of
 * AUTO_ORDER that `autoAccepts`. Backends without a probe count as not found.
 */
export function chooseBackend(requested: BackendName, probes: readonly BackendProbe[]): BackendChoice {
  const find = (b: ConcreteBackend) => probes.find((p) => p.backend === b);
  if (requested !== 'auto') {
    const p = find(requested);
    return p?.available
      ? { requested, backend: requested, reason: `asked for by name; ${p.detail}`, passed: [] }
      : { requested, backend: null, reason: `'${requested}' could not be initialised: ${p?.detail ?? 'not probed'}`, passed: [] };
  }
  const passed: BackendChoice['passed'] = [];
  for (const b of AUTO_ORDER) {
    const p = find(b);
    const v = p ? autoAccepts(p) : { take: false, why: 'not probed' };
    if (v.take) {
      const over = passed.length ? `; passed over ${passed.map((x) => `${x.backend} (${x.why})`).join(', ')}` : '';
      return { requested, backend: b, reason: `${b}: ${v.why}${over}`, passed };
    }
    passed.push({ backend: b, why: v.why });
  }
  return { requested, backend: null, reason: `no backend could be initialised: ${passed.map((x) => `${x.backend} (${x.why})`).join(', ')}`, passed };
}

const require = createRequire(import.meta.url);

/** Whether a package resolves from here (installed), without loading it. */
export function installed(pkg: string): boolean {
  try { require.resolve(pkg); return true; } catch { return false; }
}

export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** Dawn's first warning or error line on stderr ("Couldn't load Vulkan: ..."), if any. */
function dawnMessage(stderr: string): string | null {
  const m = /^(?:Warning|Error): (.+)$/m.exec(stderr);
  return m ? m[1].trim() : null;
}

/** Reads the first adapter's info in the child process; prints JSON (null: no adapter). */
const ADAPTER_PROBE = `
const { create } = await import(process.argv[1]);
const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = a && a.info;
const s = (v) => (typeof v === 'string' ? v : '');
process.stdout.write(JSON.stringify(a && { vendor: s(i.vendor), architecture: s(i.architecture), device: s(i.device),
  description: s(i.description), isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter) }));
process.exit(0);
`;

export function adapterInfo(a: { info?: Partial<WebgpuAdapterInfo>; isFallbackAdapter?: boolean }): WebgpuAdapterInfo {
  const i = a.info ?? {};
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return { vendor: s(i.vendor), architecture: s(i.architecture), device: s(i.device), description: s(i.description), isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter) };
}

export type Gpu = { requestAdapter(o?: object): Promise<{ info?: Partial<WebgpuAdapterInfo>; isFallbackAdapter?: boolean } | null> };

/**
 * Whether WebGPU has an adapter here, and which, without initialising anything in this process:
 * Dawn runs in a child process (`env`: its environment, default this one's), so its driver
 * warnings go nowhere. Where a WebGPU already exists (navigator.gpu) it is asked directly.
 */
export async function probeWebgpu(opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<BackendProbe> {
  const backend = 'webgpu' as const;
  const nav = (globalThis as { navigator?: { gpu?: Gpu } }).navigator;
  if (nav?.gpu) {
    const a = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
    return a ? { backend, available: true, detail: `navigator.gpu adapter ${describeAdapter(adapterInfo(a))}`, adapter: adapterInfo(a) }
      : { backend, available: false, detail: 'navigator.gpu has no adapter' };
  }
  if (!installed('webgpu')) return { backend, available: false, detail: "Dawn's `webgpu` package is not installed" };
  const url = pathToFileURL(require.resolve('webgpu')).href;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', ADAPTER_PROBE, url], { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const dawn = dawnMessage(stderr);
        if (err) {
          const why = err.killed ? 'timed out' : (dawn || stderr.trim().split('\n').pop() || firstLine(err));
          resolve({ backend, available: false, detail: `the WebGPU probe failed: ${why}` });
          return;
        }
        let a: WebgpuAdapterInfo | null = null;
        try { a = JSON.parse(stdout) as WebgpuAdapterInfo | null; } catch { /* reported below */ }
        resolve(a ? { backend, available: true, detail: `Dawn adapter ${describeAdapter(a)}`, adapter: a }
          : { backend, available: false, detail: `Dawn found no WebGPU adapter${dawn ? ` (${dawn})` : ''}` });
      });
  });
}
