// `npm test`: runs vitest (extra arguments pass through), then prints the plain summary line
// "N passed, N failed, N skipped" that CI runners read, and exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = join(tmpdir(), `circuitscope-vitest-${process.pid}.json`);
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit', shell: process.platform === 'win32' });
let code = r.status ?? 1;
if (existsSync(out)) {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(out);
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  console.log(`\ntests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`);
  if (j.numTotalTests === 0) { console.error('no tests ran'); code = code || 1; }
} else {
  console.log('\ntests: 0 passed, 1 failed (vitest wrote no results)');
  code = code || 1;
}
process.exit(code);
