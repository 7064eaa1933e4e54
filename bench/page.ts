/**
 * Speed in the page (issue 17): the same discovery jobs in the browser app (Chromium headless,
 * the engine in the page's Web Worker on tfjs-wasm, with `&threads=1` and with the default,
 * `auto`: one engine thread per core) and in the Node CLI (wasm, with `--workers 1` and with the
 * default `--workers auto`, one thread per core):
 *
 *   npm run build && npm run build:web && npm run bench:page
 *   node dist/bench/page.js --quick        # the ACDC job only
 *
 * Serves dist-web/ with `circuitscope serve`'s server (src/cli/commands/serve.ts, in this
 * process), drives Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core
 * and the scriptable URL (`?model=...&run=1`), and reads the wall time each side reports for
 * itself: the page's `window.circuitscope.result.results.wall` (from the run's start in the
 * worker: loading the model, discovery, the evaluation) and the CLI's circuit file's
 * `results.wall` (from the command's start: backend, model, worker threads, discovery, the
 * report). Jobs:
 * 1. the quick start (`circuitscope discover --task ioi --threshold 0.01`, which falls back to
 *    the shipped ioi-words here): ACDC, 100 IOI prompts, resample ablation, with the evaluation
 *    (the page's faithfulness curve; the CLI's HTML report, the same computation);
 * 2. EAP on the GPT-2-small shape (the `gpt2-small` preset: random weights, seed 0, made in the
 *    page's worker by the same code as the CLI's), 100 IOI prompts in chunks of 5
 *    (`--batch-size 5`), top-n 200, without the evaluation (`--no-html`; the page's
 *    `evaluate=0`): the faithfulness curve would run tens of patched evaluations of 100 prompts
 *    of GPT-2 small.
 * Each page run is checked against the CLI's circuit with as many threads (the same kept edges,
 * every score within 1e-4 relative to max(1, |x|)). A WebGPU column runs the page on `backend=webgpu` when Chromium
 * offers a hardware adapter; with a software one only (SwiftShader: a CPU running the GPU's
 * programs) it says so instead of giving a number. Writes bench/results/page.json (page.quick.json)
 * and prints a markdown table.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { appServer, defaultAppDir, staleApp } from '../src/cli/commands/serve.js';
import { describeAdapter, softwareAdapter, type WebgpuAdapterInfo } from '../src/model/backend-choice.js';
import type { CircuitFile } from '../src/graph/circuit-file.js';

const ROOT = process.cwd();
const quick = process.argv.includes('--quick');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SOFTWARE_NOTE = 'software adapter only: not a speed figure';

interface Job {
  key: string;
  label: string;
  /** the page's URL parameters (backend and run added) */
  page: Record<string, string>;
  /** the CLI's discover arguments (backend, workers, out added) */
  cli: string[];
}

const JOBS: Job[] = [
  {
    key: 'acdcQuickStart',
    label: 'ACDC, quick start: ioi-words, task ioi, 100 prompts, threshold 0.01, with evaluation',
    page: { model: 'ioi-words', task: 'ioi', method: 'acdc', n: '100', threshold: '0.01', ablation: 'resample', seed: '0' },
    cli: ['--model', 'ioi-words', '--task', 'ioi', '--method', 'acdc', '-n', '100', '--threshold', '0.01', '--ablation', 'resample', '--seed', '0'],
  },
  {
    key: 'eapGpt2Small',
    label: 'EAP, GPT-2-small shape (random weights), task ioi, 100 prompts in chunks of 5, top-n 200, no evaluation',
    page: { model: 'gpt2-small', task: 'ioi', method: 'eap', n: '100', topN: '200', 'batch-size': '5', evaluate: '0', ablation: 'resample', seed: '0' },
    cli: ['--model', 'gpt2-small', '--task', 'ioi', '--method', 'eap', '-n', '100', '--top-n', '200', '--batch-size', '5', '--no-html', '--ablation', 'resample', '--seed', '0'],
  },
];

type Wall = NonNullable<CircuitFile['results']['wall']>;
interface Timed { wall: Wall; edgesKept: number; outerSeconds: number }
interface Failed { error: string; outerSeconds: number }
type Outcome = Timed | Failed;
const ok = (o: Outcome | undefined): o is Timed => o !== undefined && 'wall' in o;

/** The same kept edges and every score within 1e-4 (relative to max(1, |x|)). */
function sameCircuit(a: CircuitFile, b: CircuitFile): { same: boolean; worst: number } {
  if (a.edges.length !== b.edges.length) return { same: false, worst: Infinity };
  let worst = 0, same = true;
  a.edges.forEach((e, i) => {
    const f = b.edges[i];
    if (e.from !== f.from || e.to !== f.to || e.inCircuit !== f.inCircuit) same = false;
    if (e.score != null && f.score != null) worst = Math.max(worst, Math.abs(e.score - f.score) / Math.max(1, Math.abs(f.score)));
  });
  return { same: same && worst <= 1e-4, worst };
}

/** `circuitscope discover` (the built CLI) on wasm; its circuit file. */
function runCli(job: Job, workers: string | null): Promise<{ outcome: Outcome; file: CircuitFile | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-page-'));
  const out = join(dir, 'circuit.json');
  const args = [CLI, 'discover', ...job.cli, '--backend', 'wasm', ...(workers ? ['--workers', workers] : []), '--out', out, '--quiet'];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CIRCUITSCOPE_PROGRESS: '' } });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    proc.on('exit', (code) => {
      const outerSeconds = (performance.now() - t0) / 1000;
      try {
        if (code !== 0 || !existsSync(out)) { resolve({ outcome: { error: `exit ${code}: ${err.trim().split('\n').pop() ?? ''}`, outerSeconds }, file: null }); return; }
        const file = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
        resolve({ outcome: { wall: file.results.wall!, edgesKept: file.results.edgesKept, outerSeconds }, file });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** The job in a fresh page (its own context: no saved checkpoint) on `backend`; its circuit file. */
async function runPage(browser: Browser, url: string, job: Job, backend: string, threads?: string): Promise<{ outcome: Outcome; file: CircuitFile | null; backendUsed: string | null }> {
  const page = await browser.newPage();
  const t0 = performance.now();
  try {
    await page.goto(`${url}?${new URLSearchParams({ ...job.page, backend, ...(threads ? { threads } : {}), run: '1' })}`);
    // (expressions as text: this file is compiled for Node, without the DOM's types)
    await page.waitForFunction("['done', 'error'].includes(document.body.dataset.state ?? '')", null, { timeout: 3_600_000, polling: 1000 });
    const got = await page.evaluate('({ error: window.circuitscope.error, result: window.circuitscope.result, backend: window.circuitscope.backend })') as { error: string | null; result: CircuitFile | null; backend: string | null };
    const outerSeconds = (performance.now() - t0) / 1000;
    if (got.error || !got.result) return { outcome: { error: got.error ?? 'no result', outerSeconds }, file: null, backendUsed: got.backend };
    return { outcome: { wall: got.result.results.wall!, edgesKept: got.result.results.edgesKept, outerSeconds }, file: got.result, backendUsed: got.backend };
  } catch (e) {
    return { outcome: { error: e instanceof Error ? e.message.split('\n')[0] : String(e), outerSeconds: (performance.now() - t0) / 1000 }, file: null, backendUsed: null };
  } finally {
    await page.close();
  }
}

/** The WebGPU adapter Chromium offers the app's page (null: none). */
async function webgpuAdapter(browser: Browser, url: string): Promise<WebgpuAdapterInfo | null> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    // as probeNavigatorGpu / adapterInfo (src/model/backend-choice.ts) read it in the page
    return await page.evaluate(`(async () => {
      if (!navigator.gpu) return null;
      const a = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
      if (!a) return null;
      const i = a.info ?? {};
      const s = (v) => (typeof v === 'string' ? v : '');
      return { vendor: s(i.vendor), architecture: s(i.architecture), device: s(i.device), description: s(i.description), isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter) };
    })()`) as WebgpuAdapterInfo | null;
  } finally {
    await page.close();
  }
}

/** The page's default engine threads (`auto`: web/engine-threads.ts's autoThreads, one per core up to 8). */
async function autoThreadsInPage(browser: Browser, url: string): Promise<number> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    return Math.max(1, Math.min(8, Number(await page.evaluate('navigator.hardwareConcurrency')) || 1));
  } finally {
    await page.close();
  }
}

let pageThreads = 1;
const secs = (o: Outcome | undefined): string => (o === undefined ? '—' : ok(o) ? `${o.wall.total.toFixed(1)} s` : `failed: ${o.error.slice(0, 80)}`);

async function main(): Promise<void> {
  const appDir = defaultAppDir();
  const index = join(appDir, 'index.html');
  if (!existsSync(index)) throw new Error(`bench:page: ${appDir} has no built app: run npm run build:web first`);
  const stale = staleApp(appDir);
  if (stale) throw new Error(`bench:page: dist-web/ is older than ${stale}/: run npm run build:web first`);
  if (!existsSync(CLI)) throw new Error('bench:page: dist/src/cli/main.js is missing: run npm run build first');
  if (!existsSync(CHROMIUM)) throw new Error(`bench:page: ${CHROMIUM} is not installed (apt-get install chromium, or set CHROMIUM)`);

  const server = appServer(appDir);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  // --enable-unsafe-webgpu: WebGPU in headless Chromium (its SwiftShader when there is no GPU)
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
  const threads = Math.max(1, Math.min(8, availableParallelism()));
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, chromium: browser.version() },
    date: new Date().toISOString(), defaultWorkers: threads, jobs: {} as Record<string, unknown>,
  };
  const out = join(ROOT, 'bench', 'results', quick ? 'page.quick.json' : 'page.json');
  const save = () => { mkdirSync(dirname(out), { recursive: true }); writeFileSync(out, JSON.stringify(results, null, 1) + '\n'); };
  const rows: string[] = [];
  try {
    const adapter = await webgpuAdapter(browser, url);
    const software = adapter ? softwareAdapter(adapter) : null;
    pageThreads = await autoThreadsInPage(browser, url);
    results.pageDefaultThreads = pageThreads;
    const webgpu = adapter === null ? 'no WebGPU adapter' : software ? SOFTWARE_NOTE : null;
    results.webgpuAdapter = adapter ? { ...adapter, describe: describeAdapter(adapter), software } : null;
    console.log(`WebGPU: ${adapter ? `${describeAdapter(adapter)}${software ? ` (software: ${software})` : ' (hardware)'}` : 'none'}`);

    for (const job of quick ? JOBS.slice(0, 1) : JOBS) {
      const r: Record<string, unknown> = { label: job.label, page: job.page, cli: job.cli };
      (results.jobs as Record<string, unknown>)[job.key] = r;
      const page = await runPage(browser, url, job, 'wasm', '1');
      r.pageWasm = { ...page.outcome, backend: page.backendUsed, threads: 1 };
      console.log(`${job.key}: page wasm, 1 thread ${secs(page.outcome)}`);
      save();
      const pageAuto = await runPage(browser, url, job, 'wasm');
      r.pageWasmDefault = { ...pageAuto.outcome, backend: pageAuto.backendUsed, threads: pageThreads };
      console.log(`${job.key}: page wasm, default (${pageThreads} threads) ${secs(pageAuto.outcome)}`);
      save();
      const one = await runCli(job, '1');
      r.cliWorkers1 = one.outcome;
      console.log(`${job.key}: CLI --workers 1 ${secs(one.outcome)}`);
      save();
      const auto = await runCli(job, null);
      r.cliDefault = { ...auto.outcome, workers: threads };
      console.log(`${job.key}: CLI default (${threads} workers) ${secs(auto.outcome)}`);
      if (page.file && one.file) r.pageEqualsCli = sameCircuit(page.file, one.file);
      if (pageAuto.file && auto.file) r.pageDefaultEqualsCli = sameCircuit(pageAuto.file, auto.file);
      if (one.file && auto.file) r.cliWorkersAgree = sameCircuit(auto.file, one.file);
      let gpuCell = webgpu ?? '';
      if (webgpu === null) {
        const gpu = await runPage(browser, url, job, 'webgpu');
        r.pageWebgpu = { ...gpu.outcome, backend: gpu.backendUsed };
        if (gpu.file && one.file) r.pageWebgpuEqualsCli = sameCircuit(gpu.file, one.file);
        gpuCell = secs(gpu.outcome);
      } else {
        r.pageWebgpu = { note: webgpu };
      }
      save();
      const same = (key: string): string => {
        const c = r[key] as { same: boolean; worst: number } | undefined;
        return c ? (c.same ? (c.worst === 0 ? 'yes (identical)' : `yes (scores within ${c.worst.toExponential(1)})`) : 'NO') : '—';
      };
      rows.push(`| ${job.label} | ${secs(page.outcome)} | ${secs(pageAuto.outcome)} | ${secs(one.outcome)} | ${secs(auto.outcome)} | ${gpuCell} | ${same('pageEqualsCli')}; ${same('pageDefaultEqualsCli')} |`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  const m = results.machine as { cpus: number; model: string; node: string; chromium: string };
  const table = [
    `Machine: ${m.cpus} cores, ${m.model}, Node ${m.node}, Chromium ${m.chromium}; wall time as each side reports it (the page: \`results.wall\` of its circuit; the CLI: \`results.wall\` of \`--out\`).`,
    '',
    `| job | page, wasm, 1 thread | page, wasm, default (threads auto = ${pageThreads}) | CLI, wasm, \`--workers 1\` | CLI, wasm, default (\`--workers auto\` = ${threads}) | page, WebGPU | page's circuit = CLI's (1 thread; default) |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  results.table = table;
  save();
  console.log(`\n${table}\n\nwrote ${out}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
