/**
 * What the browser tests share: the built app (dist-web/, rebuilt with `npm run build:web` when
 * it is missing or older than web/, src/ or models/), `circuitscope serve --port 0`, and Debian's
 * headless Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core. Without Chromium
 * the suites skip with a message, except under CI=true, where that fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { staleApp } from '../../src/cli/commands/serve.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const HAVE = existsSync(CHROMIUM);
export const CI = process.env.CI === 'true';
/** whether the browser suites run (they fail in beforeAll when CI=true and Chromium is missing) */
export const RUN = HAVE || CI;
if (!RUN) process.stderr.write(`browser app: ${CHROMIUM} is not installed; skipping the browser tests (apt-get install chromium, or set CHROMIUM)\n`);

/**
 * Build the app unless dist-web/ is newer than web/, src/ and models/. Suites start in parallel
 * (one per vitest worker) and a build empties dist-web/ first, so one builds at a time: the
 * others wait for its lock (a folder in the temporary directory, named after this checkout, taken
 * atomically), then look again.
 */
export function ensureBuilt(): void {
  const index = join(ROOT, 'dist-web', 'index.html');
  const stale = () => !existsSync(index) || staleApp(join(ROOT, 'dist-web')) !== null;
  if (!stale()) return;
  const lock = join(tmpdir(), `circuitscope-build-web-${ROOT.replace(/[^A-Za-z0-9]+/g, '_')}`);
  const t0 = Date.now();
  for (;;) {
    try { mkdirSync(lock); break; } catch { /* another suite is building */ }
    // a lock older than a build can take was left by a killed run
    if (Date.now() - t0 > 300_000) { rmSync(lock, { recursive: true, force: true }); continue; }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
  try {
    if (stale()) execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** `circuitscope serve --port 0`; resolves with the URL it prints. */
export function serve(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 60 s: ${err}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/\S+)\n/m.exec(out);
      if (m) { clearTimeout(timer); resolve({ url: m[1], proc }); }
    });
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code}): ${err}`)); });
  });
}

/** The served app and a browser, for one suite: `start()` in beforeAll, `stop()` in afterAll; `args`: Chromium's extra flags. */
export class AppHarness {
  server: { url: string; proc: ChildProcess } | null = null;
  browser: Browser | null = null;

  constructor(private readonly opts: { args?: string[] } = {}) {}

  async start(): Promise<void> {
    if (!HAVE) throw new Error(`browser app: ${CHROMIUM} is not installed and CI=true: install Debian's chromium`);
    ensureBuilt();
    this.server = await serve();
    const { chromium } = await import('playwright-core');
    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...(this.opts.args ?? [])] });
  }

  async stop(): Promise<void> {
    await this.browser?.close();
    this.server?.proc.kill('SIGTERM');
  }

  /** A page at `query` that records console errors and uncaught exceptions; `deviceScaleFactor`: the screen's devicePixelRatio (default 1). */
  async open(query: string, viewport = { width: 1280, height: 720 }, deviceScaleFactor = 1): Promise<{ page: Page; errors: string[] }> {
    const page = await this.browser!.newPage({ viewport, deviceScaleFactor, acceptDownloads: true });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL(query, this.server!.url).href);
    return { page, errors };
  }
}

/** What `compareWithCli` found: mismatches beyond the tolerance, the largest difference and where, the numbers compared. */
export interface Comparison { bad: string[]; worst: number; where: string; numbers: number }

/**
 * Every number of the page's `a` against the CLI's `b` (same keys, `skip` left out): the
 * mismatches beyond `tol` (relative to max(1, |b|)), the largest difference and where, and how
 * many numbers were compared; anything else must be equal.
 */
export function compareWithCli(a: unknown, b: unknown, path: string, skip: ReadonlySet<string>, tol: number, acc: Comparison = { bad: [], worst: 0, where: '', numbers: 0 }): Comparison {
  if (typeof b === 'number') {
    acc.numbers++;
    const d = typeof a === 'number' ? Math.abs(a - b) / Math.max(1, Math.abs(b)) : Infinity;
    if (d > acc.worst) { acc.worst = d; acc.where = path; }
    if (!(d <= tol)) acc.bad.push(`${path}: page ${String(a)}, CLI ${b}`);
  } else if (b !== null && typeof b === 'object') {
    if (a === null || typeof a !== 'object') { acc.bad.push(`${path}: page ${JSON.stringify(a)}, CLI an object`); return acc; }
    const ka = Object.keys(a as object).filter((k) => !skip.has(k)).sort(), kb = Object.keys(b as object).filter((k) => !skip.has(k)).sort();
    if (ka.join() !== kb.join()) acc.bad.push(`${path}: keys differ: page [${ka}] CLI [${kb}]`);
    for (const k of kb) compareWithCli((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, skip, tol, acc);
  } else if (a !== b) acc.bad.push(`${path}: page ${JSON.stringify(a)}, CLI ${JSON.stringify(b)}`);
  return acc;
}
