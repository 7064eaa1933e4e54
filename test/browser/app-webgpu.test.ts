/**
 * The app on WebGPU in a real browser: Debian's headless Chromium with `--enable-unsafe-webgpu`
 * exposes WebGPU with its bundled SwiftShader (a CPU Vulkan: `google / swiftshader`,
 * isFallbackAdapter), in the page and in its worker; no GPU, no other flag and no environment
 * variable is needed. SwiftShader is a software adapter, which the project never picks by itself:
 * - `backend=auto` runs on wasm, the worker saying it passed over the SwiftShader adapter as a
 *   software one; the form labels the webgpu choice "webgpu (software adapter)";
 * - `backend=webgpu` (asked for by name) runs ACDC on permute-lists-2l (n=20, threshold 0.01,
 *   resample, seed 0) on that adapter, the worker reporting webgpu (no fallback), and gives the
 *   circuit of `circuitscope discover --backend wasm --speculate 8` (the page's ACDC speculates 8
 *   on webgpu, the same decisions; --speculate only changes the forward count): the same kept
 *   edges and edge list, every score and result within TOL.model (1e-4, relative to max(1, |x|):
 *   float32 on other kernels; measured 3.3e-7) and the same forward count.
 * Takes about 50 s on two cores (SwiftShader compiles each shader on the CPU: the ACDC run is
 * ~31 s of it), so it runs in vitest's `webgpu` project, after the others, one file at a time
 * (vitest.config.ts). Skipped, with a message, when the browser offers no WebGPU adapter, except
 * under CI=true, where that fails.
 * Screenshot: test-results/app-webgpu.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, CI, ROOT, RUN, compareWithCli } from './harness.js';

/** Chromium's flag for WebGPU on Linux (its SwiftShader when there is no GPU). */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu'];
const settings = { model: 'permute-lists-2l', task: 'permute-lists', method: 'acdc', n: '20', threshold: '0.01', ablation: 'resample', seed: '0' };
const kept = (f: CircuitFile) => f.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`).sort();
const shot = (page: Page, name: string) => { mkdirSync(join(ROOT, 'test-results'), { recursive: true }); return page.screenshot({ path: join(ROOT, 'test-results', name), fullPage: true }); };

async function runPage(app: AppHarness, backend: string, n: string) {
  const t0 = performance.now();
  const { page, errors } = await app.open(`/?${new URLSearchParams({ ...settings, n, backend, run: '1' })}`, { width: 1280, height: 900 });
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 300_000 });
  const got = await page.evaluate(() => ({
    state: document.body.dataset.state, error: window.circuitscope.error, result: window.circuitscope.result,
    backend: window.circuitscope.backend, detail: window.circuitscope.backendDetail,
    option: document.querySelector<HTMLOptionElement>('#backend option[value=webgpu]')!.textContent,
  }));
  return { page, errors, got, seconds: (performance.now() - t0) / 1000 };
}

describe.skipIf(!RUN)('browser app on WebGPU (Chromium, SwiftShader)', () => {
  const app = new AppHarness({ args: WEBGPU_FLAGS });
  /** the page's adapter (null: none, with why) */
  let adapter: { vendor: string; architecture: string; isFallbackAdapter: boolean } | null = null;
  let why = '';
  beforeAll(async () => {
    await app.start();
    const { page } = await app.open('/');
    const a = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info: { vendor: string; architecture: string; isFallbackAdapter?: boolean } } | null> } }).gpu;
      if (!gpu) return 'no navigator.gpu';
      const ad = await gpu.requestAdapter();
      return ad ? { vendor: ad.info.vendor, architecture: ad.info.architecture, isFallbackAdapter: ad.info.isFallbackAdapter === true } : 'navigator.gpu has no adapter';
    });
    await page.close();
    if (typeof a === 'string') {
      why = `${a} (Chromium with ${WEBGPU_FLAGS.join(' ')})`;
      if (CI) throw new Error(`browser WebGPU: ${why}, and CI=true`);
      process.stderr.write(`browser WebGPU: skipped: ${why}\n`);
    } else adapter = a;
  }, 300_000);
  afterAll(() => app.stop());

  it('auto never takes the software adapter: wasm, saying why', async (ctx) => {
    if (!adapter) return ctx.skip(why);
    const { page, errors, got } = await runPage(app, 'auto', '10');
    expect(got.error).toBeNull();
    expect(got.backend).toBe('wasm');
    expect(got.result!.backend).toBe('wasm');
    expect(got.detail).toMatch(/^wasm: .*passed over webgpu \(.*swiftshader.* is a software adapter \(isFallbackAdapter, 'swiftshader'\); auto takes only a hardware GPU/);
    expect(got.option).toBe('webgpu (software adapter)');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('backend=webgpu runs ACDC on the SwiftShader adapter and gives the wasm CLI\'s circuit (same edges, numbers within 1e-4)', async (ctx) => {
    if (!adapter) return ctx.skip(why);
    expect(adapter.architecture).toMatch(/swiftshader/i);
    const { page, errors, got, seconds } = await runPage(app, 'webgpu', settings.n);
    await shot(page, 'app-webgpu.png');
    expect(got.error).toBeNull();
    expect(got.state).toBe('done');
    // no fallback: the worker ran webgpu, on the SwiftShader adapter, asked for by name
    expect(got.backend).toBe('webgpu');
    expect(got.detail).toMatch(/^asked for by name; adapter google \/ swiftshader .*\(software: /);
    const mine = got.result!;
    expect(mine.backend).toBe('webgpu');

    const out = join(mkdtempSync(join(tmpdir(), 'app-webgpu-')), 'circuit.json');
    const cli = await runCli(['discover', '--task', settings.task, '--model', settings.model, '--method', 'acdc', '-n', settings.n, '--threshold', settings.threshold,
      '--ablation', settings.ablation, '--seed', settings.seed, '--backend', 'wasm', '--speculate', '8', '--workers', '1', '--out', out, '--no-html', '--quiet'], { timeout: 240_000 });
    expect(cli.code, cli.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(kept(mine)).toEqual(kept(ref));
    expect(mine.edges.map((e) => `${e.from}->${e.to}`)).toEqual(ref.edges.map((e) => `${e.from}->${e.to}`));
    const d = compareWithCli(mine, ref, 'file', new Set(['createdAt', 'wall', 'seconds', 'methodSeconds', 'attributionSeconds', 'backend']), TOL.model);
    expect(d.bad).toEqual([]);
    process.stderr.write(`app-webgpu: ACDC n=${settings.n} on ${adapter.vendor}/${adapter.architecture}: ${kept(mine).length} of ${mine.edges.length} edges kept as the CLI's; largest difference ${d.worst.toExponential(2)} (${d.where}); ${seconds.toFixed(1)} s in the page (acdc ${mine.results.wall?.stages.acdc?.toFixed(1)} s)\n`);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});
