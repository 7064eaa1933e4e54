/**
 * The CLI conventions of issue 15 through the real binary, on discover / evaluate / sweep /
 * compare (the hand commands: cli-conventions-hand.test.ts): outputs checked before compute,
 * inputs never overwritten, every number validated with one line, options a method ignores
 * refused the same way in discover and sweep, old spellings naming the new ones, progress of
 * every stage, --quiet, --json, pruned dangling edges reported, and SIGINT during ACDC naming
 * the checkpoint and the --resume command (which then finishes with the uninterrupted circuit).
 */
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED, runCli } from '../helpers.js';
import type { CircuitFile } from '../../src/graph/circuit-file.js';

const MIN_INT = `${SHARED}models/min_int`;
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { timeout: 300_000, env });
const dir = mkdtempSync(join(tmpdir(), 'cli-conv-'));
const oneLine = (s: string) => s.trim().split('\n');

describe('outputs: checked before compute, inputs never overwritten', () => {
  it('discover --out equal to --data is refused and the data file is unchanged', async () => {
    const data = join(dir, 'prompts.json');
    const text = JSON.stringify({ prompts: [{ clean: [1, 2, 3], corrupt: [1, 2, 4], answer: 5, wrong: 6 }] });
    writeFileSync(data, text);
    const r = await cli(['discover', '--data', data, '--model', MIN_INT, '--out', data]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toEqual([`circuitscope: discover: --out ${data} is also the input --data ${data}; choose another output so the input is not overwritten`]);
    expect(readFileSync(data, 'utf8')).toBe(text);
  });

  it('evaluate --out equal to --circuit is refused and the circuit is unchanged', async () => {
    const c = join(dir, 'ev-in.json');
    writeFileSync(c, '{"not": "read"}');
    const r = await cli(['evaluate', '--circuit', c, '--out', c]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--out ${c} is also the input --circuit ${c}`);
    expect(readFileSync(c, 'utf8')).toBe('{"not": "read"}');
  });

  it('an unwritable --out fails before the model is loaded, with nothing written', async () => {
    // a path under a regular file cannot be created, even by root
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    for (const args of [
      ['discover', '--task', 'min-int', '--out', join(file, 'c.json')],
      ['sweep', '--task', 'min-int', '--method', 'eap', '--out', join(file, 's.json')],
    ]) {
      const r = await cli(args, { CIRCUITSCOPE_PROGRESS: '1' });
      expect(r.code).toBe(1);
      expect(r.stderr).not.toContain('load model'); // refused before any stage ran
      expect(oneLine(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(`cannot write --out ${join(file, args[0] === 'discover' ? 'c.json' : 's.json')}: ${file} is a file, not a folder`);
    }
  });

  it('discover --html PATH writes there; --no-html writes no page; --json prints the file', async () => {
    const out = join(dir, 'h.json'), page = join(dir, 'pages', 'report.html');
    const r = await cli(['discover', '--task', 'min-int', '--threshold', '0.05', '-n', '16', '--ablation', 'zero', '--out', out, '--html', page, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(out, 'utf8')));
    expect(readFileSync(page, 'utf8')).toContain('<svg');
    expect(r.stderr).toContain(`wrote ${out}, ${join(dir, 'h.dot')}, ${page}`);
    const out2 = join(dir, 'nohtml.json');
    const r2 = await cli(['discover', '--task', 'min-int', '--threshold', '0.05', '-n', '16', '--out', out2, '--no-html', '--quiet']);
    expect(r2.code).toBe(0);
    expect(existsSync(join(dir, 'nohtml.html'))).toBe(false);
    expect(existsSync(join(dir, 'nohtml.dot'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('numbers and options: one line naming the option', () => {
  const cases: [string[], string][] = [
    [['discover', '--task', 'min-int', '--seed', 'abc'], "--seed must be an integer >= 0, got 'abc'"],
    [['discover', '--task', 'min-int', '-n', '100000000'], '-n must be an integer >= 1 and <= 1000000, got 100000000'],
    [['discover', '--task', 'min-int', '-n', '2.5'], '-n must be an integer >= 1 and <= 1000000, got 2.5'],
    [['discover', '--task', 'min-int', '--threshold', '-1'], '--threshold must be a finite number >= 0, got -1'],
    [['discover', '--task', 'min-int', '--batch-size', '0'], '--batch-size must be an integer >= 1, got 0'],
    [['discover', '--task', 'min-int', '--speculate', '0'], '--speculate must be an integer >= 1, got 0'],
    [['discover', '--task', 'min-int', '--method', 'edge-pruning', '--density', '0.05,1.5'], '--density must be a finite number > 0 and <= 1, got 1.5'],
    [['discover', '--task', 'min-int', '--method', 'edge-pruning', '--density', '0.05,,0.5'], "--density must be a finite number > 0 and <= 1, got ''"],
    [['evaluate', '--circuit', 'x.json', '--samples', '-2'], '--samples must be an integer >= 0, got -2'],
    [['sweep', '--task', 'min-int', '--seed', '1.5'], '--seed must be an integer >= 0, got 1.5'],
    // options the method ignores: refused, the same words in discover and sweep
    [['discover', '--task', 'min-int', '--top-n', '2'], '--top-n does not apply to --method acdc (its own options: --speculate, --abs-value, --candidates)'],
    [['sweep', '--task', 'min-int', '--top-n', '2'], '--top-n does not apply to --method acdc (its own options: --speculate, --abs-value, --candidates)'],
    [['discover', '--task', 'min-int', '--greedy'], '--greedy does not apply to --method acdc'],
    [['discover', '--task', 'min-int', '--method', 'eap', '--steps', '3'], '--steps does not apply to --method eap (its own options: --top-n, --greedy)'],
    [['discover', '--task', 'min-int', '--method', 'eap', '--speculate', '2'], '--speculate does not apply to --method eap'],
    [['discover', '--task', 'min-int', '--method', 'eap', '--resume'], '--resume: --method eap keeps no checkpoint'],
    // old spellings name the new one
    [['discover', '--task', 'min-int', '--no-evaluation'], '--evaluation is no longer an option: use --evaluate / --no-evaluate'],
  ];
  it.each(cases)('%j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toContain(message);
  });
});

describe('progress, summary, --quiet', () => {
  it('discover shows every stage (CIRCUITSCOPE_PROGRESS=1) and reports wall time per stage and in total', async () => {
    const out = join(dir, 'prog.json');
    const r = await cli(['discover', '--task', 'min-int', '--threshold', '0.05', '-n', '16', '--out', out, '--workers', '1'], { CIRCUITSCOPE_PROGRESS: '1' });
    expect(r.code).toBe(0);
    for (const s of ['load model', 'prompts', 'setup', 'acdc', 'evaluation', 'report']) expect(r.stderr).toContain(`discover: ${s} done in `);
    expect(r.stderr).toMatch(/discover: acdc \[#*\.*\] \d+\/\d+ \(\d+ kept/); // the method's own progress
    const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(Object.keys(f.results.wall!.stages)).toEqual(['load model', 'workers', 'prompts', 'setup', 'acdc', 'evaluation', 'report']);
    const sum = Object.values(f.results.wall!.stages).reduce((a, b) => a + b, 0);
    expect(f.results.wall!.total).toBeGreaterThanOrEqual(sum - 1e-6);
    expect(f.results.wall!.total).toBeGreaterThanOrEqual(f.results.seconds);
    expect(r.stdout).toMatch(/^time: load model [\d.]+ s, .*acdc [\d.]+ s, .*; total [\d.]+ s$/m);
  });

  it('evaluate shows its stages: setup, faithfulness, completeness, minimality, curve', async () => {
    const c = join(dir, 'prog.json'); // from the test above
    const r = await cli(['evaluate', '--circuit', c, '--samples', '2', '--greedy-steps', '1', '--workers', '1'], { CIRCUITSCOPE_PROGRESS: '1' });
    expect(r.code).toBe(0);
    for (const s of ['load model', 'setup', 'faithfulness', 'completeness', 'minimality', 'curve']) expect(r.stderr).toContain(`evaluate: ${s} done in `);
    expect(r.stdout).toMatch(/^time: .*; total [\d.]+ s$/m);
  });

  it('--quiet: nothing on stderr, not even the fallback-model notice', async () => {
    // ioi's default model (GPT-2) is not here: the shipped fallback is used with a notice
    const loud = await cli(['discover', '--task', 'ioi', '-n', '4', '--threshold', '1', '--out', join(dir, 'q1.json'), '--workers', '1']);
    expect(loud.code).toBe(0);
    expect(loud.stderr).toContain("using the shipped model 'ioi-words'");
    const quiet = await cli(['discover', '--task', 'ioi', '-n', '4', '--threshold', '1', '--out', join(dir, 'q2.json'), '--workers', '1', '--quiet'], { CIRCUITSCOPE_PROGRESS: '1' });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain('acdc on ioi-words');
  });
});

describe('selection reports what it took', () => {
  it('eap --top-n 40: a connected circuit of at least 40 edges; asked, taken and kept in the file and the summary', async () => {
    const out = join(dir, 'top40.json');
    const r = await cli(['discover', '--task', 'ioi', '--method', 'eap', '--top-n', '40', '-n', '8', '--out', out, '--quiet', '--no-html']);
    expect(r.code).toBe(0);
    const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    const s = f.results.selection!;
    expect(f.topN).toBe(40);
    expect(s.asked).toBe(40);
    expect(s.kept).toBe(f.results.edgesKept);
    expect(s.kept).toBeGreaterThanOrEqual(40);
    // the best `taken` by score were taken; what pruning removed of them is danglingPruned
    expect(f.results.edgesKept + f.results.danglingPruned!).toBe(s.taken);
    const head = `${f.results.edgesKept} of ${f.results.edgesTotal} edges kept (top-n 40`;
    if (s.taken > 40) expect(r.stdout).toContain(`${head}: the 40 best alone do not all lie on input-to-logits paths; the best ${s.taken} by score give a connected circuit of ${s.kept};`);
    else expect(r.stdout).toContain(`${head};`);
  });

  it('eap --threshold: picked, then pruned; dangling edges counted', async () => {
    const out = join(dir, 'thr.json');
    const r = await cli(['discover', '--task', 'ioi', '--method', 'eap', '--threshold', '0.01', '-n', '8', '--out', out, '--quiet', '--no-html']);
    expect(r.code).toBe(0);
    const f = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile;
    expect(f.results.selection).toBeUndefined();
    const picked = f.edges.filter((e) => e.score !== null && Math.abs(e.score) >= 0.01).length;
    expect(f.results.edgesKept + f.results.danglingPruned!).toBe(picked);
    const p = f.results.danglingPruned!;
    expect(r.stdout).toContain(`(threshold 0.01${p ? `; ${p} dangling edge${p === 1 ? '' : 's'} pruned (not on an input-to-logits path)` : ''};`);
  });
});

describe('SIGINT during ACDC', () => {
  it('exits 130 naming the checkpoint and the --resume command, which finishes with the uninterrupted circuit', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const out = join(dir, 'int.json'), ck = join(dir, 'int.checkpoint.json');
    const args = ['discover', '--task', 'ioi', '-n', '20', '--out', out, '--workers', '1', '--no-html'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, CIRCUITSCOPE_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const t0 = Date.now();
    while (!existsSync(ck) && Date.now() - t0 < 300_000) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(ck)).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain(`interrupted: acdc's progress is saved in ${ck}; continue with`);
    const cmd = /\n {2}circuitscope (.*)\n/.exec(stderr)![1];
    expect(cmd).toBe(`${args.join(' ')} --resume`);
    expect(existsSync(out)).toBe(false);
    const resumed = await cli([...args, '--resume', '--quiet']);
    expect(resumed.code).toBe(0);
    expect(existsSync(ck)).toBe(false);
    const fresh = join(dir, 'int-fresh.json');
    const whole = await cli([...args.slice(0, 5), '--out', fresh, '--workers', '1', '--no-html', '--quiet']);
    expect(whole.code).toBe(0);
    const a = JSON.parse(readFileSync(out, 'utf8')) as CircuitFile, b = JSON.parse(readFileSync(fresh, 'utf8')) as CircuitFile;
    expect(a.edges).toEqual(b.edges);
    expect(a.results.circuit).toBe(b.results.circuit);
  }, 600_000);
});
