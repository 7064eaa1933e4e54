/**
 * The commands beyond `discover` on `--backend webgpu` (SwiftShader where there is no GPU), end
 * to end: evaluate, sweep and dla give the numbers the wasm backend gives (1e-4 relative: the
 * same float32 kernels summed in other orders), and patch, attention and heads run (compare
 * --evaluate is evaluate's code). One toy model, few prompts: each process compiles its shaders
 * anew (~10 s under SwiftShader).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED, expectSameNumbers, runCli } from '../helpers.js';
import { webgpuGate } from './gpu.js';

const gate = webgpuGate();
const M = `${SHARED}models/permute_lists`;
const dir = mkdtempSync(join(tmpdir(), 'cs-webgpu-cli-'));
const circuit = join(dir, 'c.json');

async function cli(args: string[], backend: string): Promise<string> {
  const r = await runCli([...args, '--backend', backend], { timeout: 300_000 });
  expect(r.stderr.replace(/^(note: |wrote ).*\n/gm, ''), `${args[0]} on ${backend}: stderr`).toBe('');
  expect(r.code, `${args[0]} on ${backend}`).toBe(0);
  return r.stdout;
}

/**
 * Every number of two JSON outputs agrees to 1e-4 relative (times, dates and the backend
 * excepted; and the ratio m(C) / m(M), ill-conditioned where the task metric of the full model
 * is ~0, as permute_lists' log-prob is: 1e-6).
 */
const same = (a: unknown, b: unknown, path: string): void => expectSameNumbers(a, b, 1e-4, /seconds|createdAt|backend|date|runs$|^ratio$/i, path);

describe.skipIf(!gate.ok)('CLI on webgpu', () => {
  beforeAll(async () => {
    await cli(['discover', '--task', 'permute-lists', '--model', M, '--split-embed', '--threshold', '0.05', '--n', '8', '--no-evaluate', '--quiet', '--out', circuit], 'wasm');
  }, 300_000);

  const jobs: [string, (out: string) => string[]][] = [
    ['evaluate', (out) => ['evaluate', '--circuit', circuit, '--model', M, '--n', '8', '--out', out]],
    ['sweep', (out) => ['sweep', '--task', 'permute-lists', '--model', M, '--split-embed', '--thresholds', '0.1', '--n', '4', '--out', out]],
    ['dla', (out) => ['dla', '--task', 'permute-lists', '--model', M, '--n', '4', '--out', out]],
  ];
  for (const [name, args] of jobs) {
    it(`${name}: the wasm numbers`, async () => {
      const outs = { wasm: join(dir, `${name.split(' ')[0]}-wasm.json`), webgpu: join(dir, `${name.split(' ')[0]}-webgpu.json`) };
      await cli(args(outs.wasm), 'wasm');
      await cli(args(outs.webgpu), 'webgpu');
      same(JSON.parse(readFileSync(outs.wasm, 'utf8')), JSON.parse(readFileSync(outs.webgpu, 'utf8')), name);
    }, 600_000);
  }

  it('patch (path patching), attention and heads run', async () => {
    const ids = '52,1,2,3,51,0,1,2,50';
    const p = await cli(['patch', '--model', M, '--clean', ids, '--corrupt', '52,3,2,1,51,0,1,2,50', '--answer', '1', '--wrong', '3', '--kind', 'heads', '--out', join(dir, 'p.json')], 'webgpu');
    expect(p).toMatch(/L1, H0/);
    const a = await cli(['attention', '--model', M, '--tokens', ids, '--heads', 'a1.h0', '--out', join(dir, 'a.html')], 'webgpu');
    expect(a).toMatch(/a1\.h0/);
    const h = await cli(['heads', '--model', 'planted-induction', '--out', join(dir, 'h.json')], 'webgpu');
    expect(h).toMatch(/induction\s+a1\.h0 1\b/);
  }, 600_000);
});
