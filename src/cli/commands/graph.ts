/**
 * `circuitscope graph`: the size of a model's component graph, from its config alone (no
 * weights are read). `--model` takes what the other commands take: a preset (gpt2-small,
 * attn-only-4l, redwood-attn-2l), a shipped model name, a shared toy model name as
 * `circuitscope tasks` lists them (min_int, permute_lists, ...), `planted-induction`, a model
 * directory (its config.json, Hugging Face or TransformerLens dialect), a config .json file, a
 * weights file (the config.json beside it), or a Hugging Face cache name. `--config` names the
 * config explicitly.
 *
 * `--json` prints `{ "senders", "receivers", "edges", "edgesAcdc" }` followed by `model`,
 * `nLayers`, `nHeads`, `attnOnly`, `positionalEmbeddingType`, `splitEmbed`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { PRESETS, presetConfig, resolveConfigJson, type ModelConfig } from '../../model/config.js';
import { shippedModelPath } from '../../model/load-model.js';
import { looksLikeHfName } from '../../model/loaders/hf-gpt2.js';
import { resolveHfName } from '../../model/loaders/hf-cache.js';
import { buildGraph } from '../../graph/graph.js';
import { PLANTED_INDUCTION, plantedInductionModel } from '../../analysis/planted.js';
import { resolveSharedModel } from '../../tasks/shared-models.js';

interface GraphArgs {
  model: string;
  config?: string;
  json: boolean;
  splitEmbed: boolean;
}

export interface GraphSummary {
  senders: number;
  receivers: number;
  edges: number;
  edgesAcdc: number;
  model: string;
  nLayers: number;
  nHeads: number;
  attnOnly: boolean;
  positionalEmbeddingType: string;
  splitEmbed: boolean;
}

function readConfig(path: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`graph: cannot read config ${path}: ${(e as Error).message}`);
  }
  return resolveConfigJson(json, path);
}

/** The ModelConfig a `--model` spec names, without loading weights. */
export function configForSpec(spec: string, configPath?: string): ModelConfig {
  if (configPath) return readConfig(configPath);
  if (PRESETS[spec] && !existsSync(spec)) return presetConfig(spec);
  if (spec === PLANTED_INDUCTION && !existsSync(spec)) return plantedInductionModel().cfg;
  if (existsSync(spec)) {
    if (statSync(spec).isDirectory()) {
      const f = join(spec, 'config.json');
      if (!existsSync(f)) throw new Error(`graph: directory ${spec} has no config.json (pass --config)`);
      return readConfig(f);
    }
    if (/\.json$/i.test(spec)) return readConfig(spec);
    const beside = join(dirname(spec), 'config.json');
    if (!existsSync(beside)) throw new Error(`graph: no config.json beside the weights file ${spec} (pass --config)`);
    return readConfig(beside);
  }
  const shipped = shippedModelPath(spec);
  if (shipped) return readConfig(join(shipped, 'config.json'));
  const shared = resolveSharedModel(spec);
  if (shared) return readConfig(join(shared, 'config.json'));
  if (looksLikeHfName(spec)) {
    let dir: string | null = null;
    try { dir = resolveHfName(spec); } catch { dir = null; }
    if (dir) return readConfig(join(dir, 'config.json'));
  }
  throw new Error(`graph: --model '${spec}' is not a preset (${Object.keys(PRESETS).join(', ')}), a shipped or shared toy model, ${PLANTED_INDUCTION}, a directory with config.json, a config or weights file, or a Hugging Face model in the local cache`);
}

export function graphSummary(cfg: ModelConfig, splitEmbed: boolean): GraphSummary {
  const c = buildGraph(cfg, { splitEmbed }).counts();
  return {
    senders: c.senders, receivers: c.receivers, edges: c.edges, edgesAcdc: c.edgesAcdc,
    model: cfg.modelName, nLayers: cfg.nLayers, nHeads: cfg.nHeads, attnOnly: cfg.attnOnly,
    positionalEmbeddingType: cfg.positionalEmbeddingType, splitEmbed,
  };
}

function text(s: GraphSummary): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return [
    `model      ${s.model} (${s.nLayers} layer${s.nLayers === 1 ? '' : 's'} x ${s.nHeads} head${s.nHeads === 1 ? '' : 's'}, ${s.attnOnly ? 'attention-only' : 'MLPs'}, ${s.positionalEmbeddingType} positions${s.splitEmbed ? ', tok/pos split' : ''})`,
    `senders    ${fmt(s.senders)}`,
    `receivers  ${fmt(s.receivers)}`,
    `edges      ${fmt(s.edges)}  (EAP-IG / auto-circuit count)`,
    `edgesAcdc  ${fmt(s.edgesAcdc)}  (ACDC's count: + ${fmt(3 * s.nLayers * s.nHeads)} q/k/v direct edges)`,
  ].join('\n');
}

export const graphCommand: CommandModule<object, GraphArgs> = {
  command: 'graph',
  describe: 'Size of a model\'s component graph (senders, receivers, edges) from its config',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'preset, shipped model, model directory, config .json, weights file or Hugging Face cache name' })
      .option('config', { type: 'string', describe: 'config JSON to use (Hugging Face or TransformerLens)' })
      .option('json', { type: 'boolean', default: false, describe: 'print {senders, receivers, edges, edgesAcdc, ...} as JSON' })
      .option('split-embed', { type: 'boolean', default: false, describe: 'split the input sender into tok and pos (shortformer: pos feeds q and k only)' })
      .example('$0 graph --model gpt2-small --json', 'GPT-2 small: 32,491 edges (ACDC: 32,923)') as unknown as Argv<GraphArgs>,
  handler: (argv: ArgumentsCamelCase<GraphArgs>) => {
    const s = graphSummary(configForSpec(argv.model, argv.config), argv.splitEmbed);
    process.stdout.write(argv.json ? `${JSON.stringify(s, null, 2)}\n` : `${text(s)}\n`);
  },
};
