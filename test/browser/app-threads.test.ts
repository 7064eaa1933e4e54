/**
 * The app's engine threads (the CLI's --workers) in a real browser (Chromium, wasm; see
 * ./harness.ts): `&threads=2` starts a WorkerPool over a module Web Worker (web/engine-threads.ts,
 * running src/parallel/worker-core.ts as a CLI worker thread does), the worker reports 2 threads,
 * and ACDC on ioi-words (n=20) gives `circuitscope discover --workers 2`'s circuit: the same kept
 * edges and forward count, every score within TOL.model (1e-4, relative to max(1, |x|): the
 * rows' split is the CLI's, so float32 sums agree), and the one-thread page's kept edges. Without
 * `&threads` the page takes `auto` (the form's default, the CLI's `--workers auto`): one thread
 * per core (navigator.hardwareConcurrency) up to 8, and the same kept edges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CircuitFile } from '../../src/graph/circuit-file.js';
import { runCli, TOL } from '../helpers.js';
import { AppHarness, RUN } from './harness.js';

const settings = { model: 'ioi-words', task: 'ioi', method: 'acdc', n: '20', seed: '0', threshold: '0.01', ablation: 'resample', backend: 'wasm' };
const key = (e: { from: string; to: string }) => `${e.from}->${e.to}`;
const kept = (f: CircuitFile) => f.edges.filter((e) => e.inCircuit).map(key).sort();

describe.skipIf(!RUN)('browser app: engine threads (Chromium, wasm)', () => {
  const app = new AppHarness();
  beforeAll(() => app.start(), 300_000);
  afterAll(() => app.stop());

  async function page(threads?: string): Promise<{ file: CircuitFile; detail: string; errors: string[]; cores: number; field: string }> {
    const { page, errors } = await app.open(`/?${new URLSearchParams({ ...settings, ...(threads ? { threads } : {}), evaluate: '0', run: '1' })}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    const got = await page.evaluate(() => ({
      state: document.body.dataset.state, error: window.circuitscope.error, result: window.circuitscope.result, detail: window.circuitscope.backendDetail,
      cores: navigator.hardwareConcurrency, field: (document.getElementById('threads') as HTMLInputElement).value,
    }));
    expect(got.state, got.error ?? '').toBe('done');
    await page.close();
    return { file: got.result as CircuitFile, detail: String(got.detail), errors, cores: got.cores, field: got.field };
  }

  it("threads=2 runs on two threads and gives the CLI's --workers 2 circuit", async () => {
    const two = await page('2');
    expect(two.detail).toMatch(/; 2 threads$/);
    expect(two.errors).toEqual([]);
    const one = await page('1');
    expect(one.detail).toMatch(/; 1 thread$/);
    expect(kept(two.file)).toEqual(kept(one.file));

    const out = join(mkdtempSync(join(tmpdir(), 'app-threads-')), 'c.json');
    const cli = await runCli(['discover', '--model', settings.model, '--task', settings.task, '--method', 'acdc', '-n', settings.n, '--seed', '0', '--threshold', '0.01', '--ablation', 'resample', '--backend', 'wasm', '--workers', '2', '--no-html', '--quiet', '--out', out], { timeout: 240_000 });
    expect(cli.code, cli.stderr).toBe(0);
    const ref = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(kept(two.file)).toEqual(kept(ref));
    expect(two.file.results.forwards).toBe(ref.results.forwards);
    const scores = new Map(ref.edges.map((e) => [key(e), e.score]));
    for (const e of two.file.edges) {
      const s = scores.get(key(e));
      if (s === null || s === undefined) { expect(e.score ?? null).toBeNull(); continue; }
      expect(Math.abs((e.score ?? NaN) - s), key(e)).toBeLessThanOrEqual(TOL.model * Math.max(1, Math.abs(s)));
    }
  }, 600_000);

  it('without &threads the page runs one thread per core (auto, the CLI default) and gives the same circuit', async () => {
    const auto = await page();
    expect(auto.field).toBe('auto');
    const n = Math.max(1, Math.min(8, auto.cores));
    expect(auto.detail).toMatch(new RegExp(`; ${n} threads?$`));
    expect(auto.errors).toEqual([]);
    const one = await page('1');
    expect(one.field).toBe('1');
    expect(kept(auto.file)).toEqual(kept(one.file));
  }, 600_000);
});
