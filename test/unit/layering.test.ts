/**
 * The layering of src/ (.dependency-cruiser.cjs: layer order, no cycles, commands independent),
 * checked by dependency-cruiser's API so that `npm test` fails, and lists each violation, when
 * an import goes the wrong way. `npm run check:layers` prints the same from the command line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Cruises `folders` (src and the web app) under `baseDir` with the project's rules; one line per violation. */
async function violations(baseDir: string, folders = ['src', 'web']): Promise<{ lines: string[]; modules: number }> {
  const options = await extractDepcruiseOptions(join(root, '.dependency-cruiser.cjs'));
  const tsConfig = extractTSConfig(join(root, 'tsconfig.json'));
  const r = await cruise(folders, { ...options, baseDir }, {}, { tsConfig });
  const result = r.output as ICruiseResult;
  const lines = result.summary.violations.map((v) => {
    const via = v.cycle?.length ? ` (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(' -> ')})` : '';
    return `${v.rule.name}: ${v.from} -> ${v.to}${via}`;
  });
  return { lines: lines.sort(), modules: result.summary.totalCruised };
}

describe('layering (dependency-cruiser, .dependency-cruiser.cjs)', () => {
  it('src/ and web/ have no layer violation, no import cycle and no command importing a command', async () => {
    const { lines, modules } = await violations(root);
    if (lines.length) console.error(`layer violations (see .dependency-cruiser.cjs):\n  ${lines.join('\n  ')}`);
    expect(modules).toBeGreaterThan(50); // the cruise really saw the source tree
    expect(lines).toEqual([]);
  });

  it('the rules catch a type-only cycle, an upward import, a command importing a command, a folder outside the layers and a broken import', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'circuitscope-layers-'));
    try {
      const files: Record<string, string> = {
        'src/util/a.ts': "import type { B } from '../model/b.js';\nexport interface A { b?: B }\n",
        'src/model/b.ts': "import type { A } from '../util/a.js';\nexport interface B { a?: A }\n",
        'src/graph/g.ts': "import type { B } from '../model/b.js';\nexport type G = B;\n",
        'src/graph/broken.ts': "export * from '../model/missing.js';\n",
        'src/cli/commands/x.ts': "import { y } from './y.js';\nexport const x = y;\n",
        'src/cli/commands/y.ts': 'export const y = 1;\n',
        'src/cli/commands/index.ts': "export { x } from './x.js';\nexport { y } from './y.js';\n",
        'src/stray/z.ts': "import type { A } from '../util/a.js';\nexport type Z = A;\n",
        'src/cli/main.ts': "import type { Z } from '../stray/z.js';\nexport type M = Z;\n",
      };
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), text);
      }
      const { lines } = await violations(dir, ['src']);
      // a cycle is reported once, from whichever of its files the cruise reaches first
      const cycles = lines.filter((l) => l.startsWith('no-circular:'));
      expect(cycles).toHaveLength(1);
      expect(cycles[0]).toMatch(/\(cycle: src\/(util\/a|model\/b)\.ts -> src\/(model\/b|util\/a)\.ts -> src\/(util\/a|model\/b)\.ts\)$/);
      expect(lines.filter((l) => !l.startsWith('no-circular:'))).toEqual([
        'cli-commands-independent: src/cli/commands/x.ts -> src/cli/commands/y.ts',
        'folder-not-in-a-layer-imports: src/stray/z.ts -> src/util/a.ts',
        'folder-not-in-a-layer: src/cli/main.ts -> src/stray/z.ts',
        'layer-util: src/util/a.ts -> src/model/b.ts',
        'not-to-unresolvable: src/graph/broken.ts -> ../model/missing.js',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
