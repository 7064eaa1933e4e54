/**
 * The CLI conventions (src/cli/options.ts, output.ts, progress.ts) on the hand-checking
 * commands (logits, patch, attention, heads, dla, graph, models, tasks), through the real
 * binary: `-n` counts sequences in `heads`, old spellings fail with one line naming the new
 * one, numbers are validated, results on stdout and notices on stderr, the metric is spelled
 * 'logit-diff', outputs are checked before any compute (never an input, never in a folder that
 * cannot be written), and stages show progress lines with CIRCUITSCOPE_PROGRESS=1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED, runCli, type CliRun } from '../helpers.js';

const PERM = `${SHARED}models/permute_lists`;
const MIN_INT = `${SHARED}models/min_int`;
const PERM_PATCH = ['--clean', '52,1,2,3,51,0,1,2,50', '--corrupt', '52,3,2,1,51,0,1,2,50', '--answer', '1', '--wrong', '3'];

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['--backend', 'wasm', ...args], { env });

/** Exit 1 with exactly one line on stderr, matching `re`, and nothing on stdout. */
function oneLineError(r: CliRun, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(re);
  expect(r.stdout).toBe('');
}

const dir = mkdtempSync(join(tmpdir(), 'cli-conventions-hand-'));
afterAll(() => {
  try { chmodSync(join(dir, 'ro'), 0o755); } catch { /* not made */ }
  rmSync(dir, { recursive: true, force: true });
});

describe('one vocabulary', () => {
  it('heads: -n counts the sequences, --seq-len is their length, --batch-size chunks them; --batch names -n', async () => {
    const args = ['heads', '--model', 'planted-induction', '-n', '3', '--seq-len', '5', '--json'];
    const [r, chunked, old] = await Promise.all([cli(args), cli([...args, '--batch-size', '2']), cli(['heads', '--model', 'planted-induction', '--batch', '3'])]);
    expect(r.code, r.stderr).toBe(0);
    type Out = { n: number; seqLen: number; offset: number; tokens: number[][]; scores: Record<string, number[][]> };
    const o = JSON.parse(r.stdout) as Out, c = JSON.parse(chunked.stdout) as Out;
    expect([o.n, o.seqLen, o.tokens.length]).toEqual([3, 5, 3]);
    for (const row of o.tokens) expect(row).toHaveLength(o.offset + 10);
    expect(c.tokens).toEqual(o.tokens);
    for (const k of Object.keys(o.scores)) c.scores[k].flat().forEach((v, i) => expect(v).toBeCloseTo(o.scores[k].flat()[i], 5));
    oneLineError(old, /^circuitscope: --batch is no longer an option: use -n \(the number of sequences/);
  });

  it('patch: --batch-size names --max-rows; --max-rows gives the same numbers', async () => {
    const base = ['patch', '--model', PERM, ...PERM_PATCH, '--kind', 'heads', '--json'];
    const [a, b, old] = await Promise.all([cli(base), cli([...base, '--max-rows', '1']), cli([...base, '--batch-size', '4'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const va = JSON.parse(a.stdout).sweeps.head_out.values as number[][], vb = JSON.parse(b.stdout).sweeps.head_out.values as number[][];
    vb.flat().forEach((v, i) => expect(v).toBeCloseTo(va.flat()[i], 5));
    oneLineError(old, /^circuitscope: --batch-size is no longer an option: use --max-rows/);
  });

  it('dla: --ablate names --ablate-heads', async () => {
    const r = await cli(['dla', '--task', 'min-int', '--model', MIN_INT, '--ablate', '0.0']);
    oneLineError(r, /^circuitscope: --ablate is no longer an option: use --ablate-heads/);
  });

  it('patch: results on stdout, "wrote" on stderr; the metric is logit-diff; --quiet keeps the results', async () => {
    const out = join(dir, 'patch.json');
    const [r, q] = await Promise.all([
      cli(['patch', '--model', PERM, ...PERM_PATCH, '--kind', 'heads', '--out', out]),
      cli(['patch', '--model', PERM, ...PERM_PATCH, '--kind', 'heads', '--out', join(dir, 'patch-q.json'), '--quiet']),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^metric\s+logit-diff: clean /m);
    expect(r.stdout).not.toMatch(/wrote/);
    expect(r.stderr).toBe(`wrote ${out}\n`);
    expect(JSON.parse(readFileSync(out, 'utf8')).metric).toBe('logit-diff');
    expect(q.code, q.stderr).toBe(0);
    expect(q.stderr).toBe('');
    const noTimes = (s: string) => s.replace(/^time: .*\n/m, '');
    expect(noTimes(q.stdout)).toBe(noTimes(r.stdout));
  });

  it('tasks and models: the listing on stdout, the notes on stderr (not with --quiet)', async () => {
    const [t, tq] = await Promise.all([cli(['tasks']), cli(['tasks', '--quiet'])]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^name\s+default model/);
    expect(t.stdout).not.toMatch(/custom tasks/i);
    expect(t.stderr).toMatch(/^note: custom tasks: --data/);
    expect(tq.stderr).toBe('');
    expect(tq.stdout).toBe(t.stdout);
  });
});

describe('numbers are validated with one line naming the option', () => {
  it('--seed abc on logits and patch', async () => {
    const [l, p] = await Promise.all([
      cli(['logits', '--model', MIN_INT, '--tokens', '1,2', '--seed', 'abc']),
      cli(['patch', '--model', PERM, ...PERM_PATCH, '--seed', 'abc']),
    ]);
    oneLineError(l, /^circuitscope: --seed must be an integer >= 0, got 'abc'\n$/);
    oneLineError(p, /^circuitscope: --seed must be an integer >= 0, got 'abc'\n$/);
  });

  it('--top 0, --index -1, --position 1.5, --max-tokens 0, -n 0, --seq-len 1', async () => {
    const rs = await Promise.all([
      cli(['logits', '--model', MIN_INT, '--tokens', '1,2', '--top', '0']),
      cli(['attention', '--model', PERM, '--task', 'permute-lists', '--index', '-1']),
      cli(['patch', '--model', PERM, ...PERM_PATCH, '--position', '1.5']),
      cli(['dla', '--task', 'min-int', '--model', MIN_INT, '--max-tokens', '0']),
      cli(['heads', '--model', 'planted-induction', '-n', '0']),
      cli(['heads', '--model', 'planted-induction', '--seq-len', '1']),
    ]);
    const want = [
      /^circuitscope: --top must be an integer >= 1, got 0\n$/,
      /^circuitscope: --index must be an integer >= 0, got -1\n$/,
      /^circuitscope: --position must be an integer, got 1\.5\n$/,
      /^circuitscope: --max-tokens must be an integer >= 1, got 0\n$/,
      /^circuitscope: -n must be an integer >= 1 .*got 0\n$/,
      /^circuitscope: --seq-len must be an integer >= 2, got 1\n$/,
    ];
    rs.forEach((r, i) => oneLineError(r, want[i]));
  });
});

describe('outputs are checked before any compute', () => {
  it('an --out that is the --data input is refused and the input stays as it was', async () => {
    const data = join(dir, 'prompts.json');
    const text = JSON.stringify({ prompts: [{ clean: [52, 1, 2, 3, 51, 0, 1, 2, 50], corrupt: [52, 3, 2, 1, 51, 0, 1, 2, 50], answer: 1, wrong: 3 }] });
    writeFileSync(data, text);
    const r = await cli(['patch', '--model', PERM, '--data', data, '--out', data, '--kind', 'heads'], { CIRCUITSCOPE_PROGRESS: '1' });
    oneLineError(r, /^circuitscope: patch: --out .*prompts\.json is also the input --data .*prompts\.json/);
    expect(readFileSync(data, 'utf8')).toBe(text);
  });

  it('an --out that cannot be written is refused before the model loads, leaving no files', async () => {
    // root ignores folder permissions: a path under a regular file fails for everyone.
    const root = process.getuid?.() === 0;
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    let out: string;
    if (root) {
      writeFileSync(join(ro, 'file'), 'x');
      out = join(ro, 'file', 'x.json');
    } else {
      chmodSync(ro, 0o555);
      out = join(ro, 'x.json');
    }
    const before = readdirSync(ro);
    const [h, d] = await Promise.all([
      cli(['heads', '--model', 'planted-induction', '--out', out, '--html', join(dir, 'heads-ok.html')], { CIRCUITSCOPE_PROGRESS: '1' }),
      cli(['dla', '--task', 'min-int', '--model', MIN_INT, '--html', out], { CIRCUITSCOPE_PROGRESS: '1' }),
    ]);
    oneLineError(h, /^circuitscope: heads: cannot write --out .*x\.json: /);
    oneLineError(d, /^circuitscope: dla: cannot write --html .*x\.json: /);
    expect(h.stderr + d.stderr).not.toMatch(/load model/);
    expect(readdirSync(ro)).toEqual(before);
    expect(existsSync(join(dir, 'heads-ok.html'))).toBe(false);
  });
});

describe('models by name, and progress', () => {
  it('graph --model takes the shared toy model names that `tasks` prints', async () => {
    const r = await cli(['graph', '--model', 'min_int', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ nLayers: 1, nHeads: 1, edges: 5 });
  });

  it('dla shows its stages with CIRCUITSCOPE_PROGRESS=1 (and not with --quiet)', async () => {
    const args = ['dla', '--task', 'min-int', '--model', MIN_INT, '-n', '8', '--ablate-heads', '0.0'];
    const [r, q] = await Promise.all([cli(args, { CIRCUITSCOPE_PROGRESS: '1' }), cli([...args, '--quiet'], { CIRCUITSCOPE_PROGRESS: '1' })]);
    expect(r.code, r.stderr).toBe(0);
    for (const s of ['load model', 'attribution', 'ablations (1 head)']) expect(r.stderr).toMatch(new RegExp(`^dla: ${s.replace(/[()]/g, '\\$&')} done in [\\d.]+ s$`, 'm'));
    expect(r.stdout).toMatch(/^dla on .*min_int, task min-int \(n=8, seed 0\)/);
    expect(q.code).toBe(0);
    expect(q.stderr).toBe('');
    expect(q.stdout).toBe(r.stdout);
  });
});
