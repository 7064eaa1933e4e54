/**
 * `circuitscope models`: what `--model` accepts on this machine: the presets (shapes, random
 * weights), the project's shipped models under models/, and the GPT-2 checkpoints found in
 * the Hugging Face cache ($HF_HOME/hub or ~/.cache/huggingface/hub).
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { PRESETS, presetConfig, resolveConfigJson, type ModelConfig } from '../../model/config.js';
import { SHIPPED_DIR } from '../../model/load-model.js';
import { listHfCache } from '../../model/loaders/hf-cache.js';
import { quietOption } from '../options.js';

export interface ModelRow {
  name: string;
  kind: 'preset' | 'shipped' | 'hf-cache';
  layers: number | null;
  heads: number | null;
  dModel: number | null;
  attnOnly: boolean | null;
  /** where the weights are (null for presets) */
  path: string | null;
  note?: string;
}

function shape(cfg: ModelConfig): Pick<ModelRow, 'layers' | 'heads' | 'dModel' | 'attnOnly'> {
  return { layers: cfg.nLayers, heads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
}

const NO_SHAPE = { layers: null, heads: null, dModel: null, attnOnly: null };

function configRow(name: string, kind: ModelRow['kind'], dir: string): ModelRow {
  const file = join(dir, 'config.json');
  try {
    return { name, kind, ...shape(resolveConfigJson(JSON.parse(readFileSync(file, 'utf8')), file)), path: dir };
  } catch (e) {
    return { name, kind, ...NO_SHAPE, path: dir, note: `unreadable config: ${(e as Error).message}` };
  }
}

export function presetRows(): ModelRow[] {
  return Object.keys(PRESETS).map((name) => ({ name, kind: 'preset' as const, ...shape(presetConfig(name)), path: null, note: 'random weights' }));
}

export function shippedRows(dir = SHIPPED_DIR): ModelRow[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'config.json')))
    .map((d) => configRow(d.name, 'shipped', join(dir, d.name)));
}

export function hfCacheRows(env: NodeJS.ProcessEnv = process.env): ModelRow[] {
  return listHfCache(env).map((m) => configRow(m.name, 'hf-cache', m.path));
}

function table(rows: ModelRow[]): string {
  const head = ['name', 'kind', 'layers', 'heads', 'dModel', 'attn-only', 'where'];
  const cells = rows.map((r) => [
    r.name, r.kind,
    r.layers === null ? '?' : String(r.layers),
    r.heads === null ? '?' : String(r.heads),
    r.dModel === null ? '?' : String(r.dModel),
    r.attnOnly === null ? '?' : r.attnOnly ? 'yes' : 'no',
    r.path ?? r.note ?? '',
  ]);
  const w = head.map((h, j) => Math.max(h.length, ...cells.map((c) => c[j].length)));
  const fmt = (c: string[]) => c.map((s, j) => s.padEnd(w[j])).join('  ').trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n');
}

interface ModelsArgs {
  json: boolean;
  quiet: boolean;
}

export const modelsCommand: CommandModule<object, ModelsArgs> = {
  command: 'models',
  describe: 'List the presets, shipped models and Hugging Face cache checkpoints --model accepts',
  builder: (y: Argv) =>
    y.option('json', { type: 'boolean', default: false, describe: 'print the list as JSON' }).options(quietOption) as unknown as Argv<ModelsArgs>,
  handler: async (argv: ArgumentsCamelCase<ModelsArgs>) => {
    const rows = [...presetRows(), ...shippedRows(), ...hfCacheRows()];
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({ models: rows }, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${table(rows)}\n`);
    if (!argv.quiet && !rows.some((r) => r.kind === 'hf-cache')) {
      process.stderr.write('note: no GPT-2 checkpoint in the Hugging Face cache ($HF_HOME/hub or ~/.cache/huggingface/hub)\n');
    }
  },
};
