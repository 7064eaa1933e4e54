/** yargs options that several commands share, defined once (each command may override a description). */
import { PROCESSING_STEPS } from '../model/processing.js';

/** --config and --processing: how the weights are read and processed. */
export const weightOptions = {
  config: { type: 'string', describe: 'config JSON for a bare weights file (Hugging Face or TransformerLens)' },
  processing: { type: 'array', string: true, choices: PROCESSING_STEPS as unknown as string[], describe: 'weight processing steps (raw weights by default)' },
} as const;

/** --task and --data: a registered task or a custom task file. */
export const taskOptions = {
  task: { type: 'string', describe: 'task name (see `circuitscope tasks`)' },
  data: { type: 'string', describe: 'custom task JSON: { "prompts": [{ "clean", "corrupt", "answer", "wrong" }] }' },
} as const;

/** --out, --html and --json of the commands that write a result (`what`: "the patterns", ...). */
export function outputOptions(what: string) {
  return {
    out: { type: 'string', describe: `write ${what} as JSON here` },
    html: { type: 'string', describe: 'write a self-contained HTML page here' },
    json: { type: 'boolean', default: false, describe: 'print the JSON on stdout instead of the summary' },
  } as const;
}

/**
 * --task, --data, --model, --config, --processing of the commands that measure a circuit file:
 * each defaults to the circuit's (`whose`: "the circuit's", "A's"); `use` prefixes the
 * descriptions ("for --evaluate").
 */
export function circuitTaskOptions(whose: string, use = '') {
  const p = use ? `${use} ` : '';
  return {
    task: { type: 'string', describe: `task ${p}(default: ${whose})` },
    data: { type: 'string', describe: `custom task JSON ${p}instead of --task` },
    model: { type: 'string', describe: `model ${p}(default: ${whose})` },
    config: weightOptions.config,
    processing: { ...weightOptions.processing, describe: `weight processing ${p}(default: ${whose})` },
  } as const;
}
