/**
 * The evaluation pages in a real browser: Debian's headless Chromium (/usr/bin/chromium, or
 * $CHROMIUM) loads the discover report with its evaluation section, the sweep page and the
 * comparison page from disk with the network unreachable. A check script injected into the
 * test's copy (the pages themselves have no scripts) reports every SVG's rendered size and the
 * section ids; each chart's SVG parses as standalone XML (DOMParser, image/svg+xml); and a
 * screenshot of the report is decoded here and must show the charts' colours. Skipped, with a
 * message, when Chromium is not installed (`apt-get install chromium`; .ci/run installs it).
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { discover } from '../../src/discovery/run.js';
import { getTask } from '../../src/tasks/registry.js';
import { circuitHtml } from '../../src/report/circuit-html.js';
import { reportSections } from '../../src/eval/report.js';
import { sweep } from '../../src/eval/sweep.js';
import { comparisonHtml, overlaySvg, sweepFigures, sweepHtml } from '../../src/eval/html.js';
import { compareCircuits } from '../../src/eval/compare.js';
import { referenceFromTask } from '../../src/eval/reference.js';
import { circuitEdgeKeys } from '../../src/graph/circuit-file.js';
import { SHARED } from '../helpers.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
if (!HAVE) process.stderr.write(`eval-report-chromium: ${CHROMIUM} is not installed; skipping the browser checks (apt-get install chromium, or set CHROMIUM)\n`);

const dir = mkdtempSync(join(tmpdir(), 'eval-chromium-'));

function chromium(args: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  return execFileSync(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--host-resolver-rules=MAP * ~NOTFOUND', ...args,
  ], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
}

const CHECK = `<script>(() => {
  const svgs = [...document.querySelectorAll('svg')].map((s) => { const r = s.getBoundingClientRect(); return { w: r.width, h: r.height, cls: s.getAttribute('class') }; });
  const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
  const pre = document.createElement('pre'); pre.id = '__check';
  pre.textContent = JSON.stringify({ svgs, ids, title: document.title, markers: document.querySelectorAll('svg circle').length });
  document.body.appendChild(pre);
})();</script>`;

interface Check { svgs: { w: number; h: number; cls: string | null }[]; ids: string[]; title: string; markers: number }

/** Load a page copy with the check script in Chromium and return the script's report. */
function inspect(html: string, name: string): Check {
  const p = join(dir, `${name}.check.html`);
  writeFileSync(p, html.replace('</body>', `${CHECK}</body>`));
  const dom = chromium(['--dump-dom', `file://${p}`]);
  const m = /<pre id="__check">([\s\S]*?)<\/pre>/.exec(dom);
  if (!m) throw new Error(`chromium: no check output for ${name}`);
  return JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as Check;
}

/** RGBA rows of an 8-bit RGB(A) non-interlaced PNG (what Chromium writes). */
function decodePng(buf: Buffer): { width: number; height: number; px: (x: number, y: number) => [number, number, number] } {
  let off = 8, width = 0, height = 0, ch = 4;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('ascii', off + 4, off + 8), data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('png: only 8-bit non-interlaced');
      ch = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      if (!ch) throw new Error(`png: colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * ch, out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= ch ? out[y * stride + i - ch] : 0, b = y > 0 ? out[(y - 1) * stride + i] : 0, c = i >= ch && y > 0 ? out[(y - 1) * stride + i - ch] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      out[y * stride + i] = (row[i] + pred) & 255;
    }
  }
  return { width, height, px: (x, y) => [out[y * stride + x * ch], out[y * stride + x * ch + 1], out[y * stride + x * ch + 2]] };
}

let model: HookedTransformer;
const pages: Record<string, string> = {};
const svgs: Record<string, string> = {};

beforeAll(async () => {
  if (!HAVE) return;
  await initBackend('wasm');
  model = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
  const task = getTask('permute-lists');
  const { file, evaluator } = await discover(model, task, { method: 'eap-ig', topN: 7, ablation: 'zero', n: 24, seed: 1, splitEmbed: true, modelName: 'permute_lists', backend: 'wasm' });
  // as `discover` renders it: the report measures with discover's own evaluator
  const { sections, evaluation } = await reportSections(model, task, file, { evaluator }).finally(() => evaluator.dispose());
  expect(evaluation.reference).not.toBeNull();
  pages.report = circuitHtml(file, sections);
  const s = await sweep(model, task, { method: 'eap', ablation: 'zero', n: 16, seed: 2, splitEmbed: true, reference: referenceFromTask(task), modelName: 'permute_lists', backend: 'wasm' });
  pages.sweep = sweepHtml(s);
  for (const f of sweepFigures(s)) svgs[f.id] = f.svg;
  const kept = circuitEdgeKeys(file);
  svgs.overlay = overlaySvg(file.modelConfig, kept, referenceFromTask(task)!.edges);
  const c = compareCircuits({ name: 'eap-ig', file, edges: kept, splitEmbed: true }, { name: 'reference', file: null, edges: new Set(referenceFromTask(task)!.edges), splitEmbed: true });
  pages.compare = comparisonHtml(c, file.modelConfig);
  for (const [k, v] of Object.entries(pages)) writeFileSync(join(dir, `${k}.html`), v);
});
afterAll(() => model?.dispose());

describe.skipIf(!HAVE)('evaluation pages in headless Chromium', () => {
  it('the pages reference nothing on the network', () => {
    for (const [k, html] of Object.entries(pages)) {
      expect(html, k).not.toMatch(/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
      expect(html, k).not.toMatch(/<script|<link|@import|url\(/i);
    }
  });

  it('the discover report renders its evaluation section: charts, ROC, overlay', () => {
    const c = inspect(pages.report, 'report');
    for (const id of ['evaluation', 'faithfulness-curve', 'roc-edge', 'roc-node', 'overlay']) expect(c.ids).toContain(id);
    expect(c.title).toMatch(/permute-lists/);
    const charts = c.svgs.filter((s) => s.cls === 'chart');
    expect(charts.length).toBe(3);
    expect(c.svgs.filter((s) => s.cls === 'overlay').length).toBe(1);
    for (const s of c.svgs) { expect(s.w).toBeGreaterThan(100); expect(s.h).toBeGreaterThan(100); }
    expect(c.markers).toBeGreaterThan(20);
  });

  it('the sweep and comparison pages render', () => {
    const s = inspect(pages.sweep, 'sweep');
    for (const id of ['roc-edge', 'roc-node', 'faithfulness-edges', 'mib-curve']) expect(s.ids).toContain(id);
    expect(s.svgs.filter((x) => x.cls === 'chart' && x.w > 100 && x.h > 100).length).toBe(4);
    const c = inspect(pages.compare, 'compare');
    expect(c.svgs.filter((x) => x.cls === 'overlay' && x.w > 100).length).toBe(1);
  });

  it('every chart parses as standalone SVG XML', () => {
    const p = join(dir, 'xml.html');
    writeFileSync(p, `<!doctype html><html><body><pre id="__check"></pre><script>
const svgs = ${JSON.stringify(svgs).replace(/</g, '\\u003c')};
const bad = Object.entries(svgs).filter(([, s]) => new DOMParser().parseFromString(s, 'image/svg+xml').getElementsByTagName('parsererror').length > 0).map(([k]) => k);
document.getElementById('__check').textContent = JSON.stringify({ n: Object.keys(svgs).length, bad });
</script></body></html>`);
    const m = /<pre id="__check">([\s\S]*?)<\/pre>/.exec(chromium(['--dump-dom', `file://${p}`]));
    const r = JSON.parse(m![1].replace(/&quot;/g, '"')) as { n: number; bad: string[] };
    expect(r.n).toBe(5);
    expect(r.bad).toEqual([]);
  });

  it('a screenshot of the report shows the charts', () => {
    const png = join(dir, 'report.png');
    chromium([`--screenshot=${png}`, '--window-size=1280,2400', '--hide-scrollbars', `file://${join(dir, 'report.html')}`]);
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).toEqual([1280, 2400]);
    let ink = 0, blue = 0, green = 0;
    for (let y = 0; y < img.height; y += 2) for (let x = 0; x < img.width; x += 2) {
      const [r, g, b] = img.px(x, y);
      if (r + g + b < 600) ink++;
      if (b > 150 && r < 80 && g > 90 && g < 150) blue++; // #1f77b4, the first series colour
      if (g > 130 && r < 80 && b < 90) green++; // #2a9d3a, shared edges in the overlay
    }
    const total = (img.width / 2) * (img.height / 2);
    expect(ink / total).toBeGreaterThan(0.01);
    expect(blue).toBeGreaterThan(50);
    expect(green).toBeGreaterThan(20);
  });
});
