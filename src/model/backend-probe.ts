/**
 * The Node probes behind `--backend`: whether a package is installed (without loading it) and
 * the WebGPU adapter Dawn finds, read in a short child process so that Dawn's driver warnings
 * stay there. A browser never imports this module (see ./backend-choice.ts).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describeAdapter, firstLine, probeNavigatorGpu, type BackendProbe, type WebgpuAdapterInfo } from './backend-choice.js';

const require = createRequire(import.meta.url);

/** Whether a package resolves from here (installed), without loading it. */
export function installed(pkg: string): boolean {
  try { require.resolve(pkg); return true; } catch { return false; }
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

/**
 * Whether WebGPU has an adapter here, and which, without initialising anything in this process:
 * Dawn runs in a child process (`env`: its environment, default this one's), so its driver
 * warnings go nowhere. Where a WebGPU already exists (navigator.gpu) it is asked directly.
 */
export async function probeWebgpu(opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<BackendProbe> {
  const backend = 'webgpu' as const;
  const seen = await probeNavigatorGpu();
  if (seen) return seen;
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
