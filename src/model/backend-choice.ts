/**
 * Which tfjs backend `--backend` gets, without tfjs and without Node: the probe results' types
 * and the pure choice (`chooseBackend`: probes -> backend + reason), plus the adapter of a
 * WebGPU that already exists (`navigator.gpu`: a browser). The Node probes (an installed package,
 * Dawn's adapter in a child process) are in ./backend-probe.ts; ./backend-core.ts initialises
 * the backends and ./backend.ts is Node's entry point, re-exporting all of this.
 *
 * `auto` takes the first of AUTO_ORDER that is usable: webgpu on a hardware adapter, tfjs-node-gpu,
 * tfjs-node, wasm, cpu. A software or fallback WebGPU adapter (SwiftShader, llvmpipe, lavapipe,
 * WARP: a CPU running the GPU's programs, far slower than wasm) is never taken by `auto`;
 * `--backend webgpu` uses it all the same, which is how the WebGPU suite (test/webgpu) runs on
 * machines without a GPU.
 */
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

export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

export function adapterInfo(a: { info?: Partial<WebgpuAdapterInfo>; isFallbackAdapter?: boolean }): WebgpuAdapterInfo {
  const i = a.info ?? {};
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return { vendor: s(i.vendor), architecture: s(i.architecture), device: s(i.device), description: s(i.description), isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter) };
}

export type Gpu = { requestAdapter(o?: object): Promise<{ info?: Partial<WebgpuAdapterInfo>; isFallbackAdapter?: boolean } | null> };

/** The adapter of the WebGPU this page or process already has (`navigator.gpu`), or null when it has none. */
export async function probeNavigatorGpu(): Promise<BackendProbe | null> {
  const backend = 'webgpu' as const;
  const nav = (globalThis as { navigator?: { gpu?: Gpu } }).navigator;
  if (!nav?.gpu) return null;
  const a = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  return a ? { backend, available: true, detail: `navigator.gpu adapter ${describeAdapter(adapterInfo(a))}`, adapter: adapterInfo(a) }
    : { backend, available: false, detail: 'navigator.gpu has no adapter' };
}
