/**
 * `circuitscope tasks [--json]`: the built-in tasks with their default and fallback models and
 * the size of their reference circuit (our edge count, and ACDC's, which adds the q/k/v
 * DIRECT edges). With --json, an array of
 * `{ name, defaultModel, fallbackModel, referenceEdges, referenceEdgesAcdc }` (the last two null
 * when the task has no reference circuit or it cannot be read, e.g. the shared toy models are absent).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { listTasks } from '../../tasks/registry.js';
import type { Task } from '../../tasks/types.js';
import { quietOption } from '../options.js';

export interface TaskRow {
  name: string;
  defaultModel: string;
  fallbackModel: string | null;
  referenceEdges: number | null;
  referenceEdgesAcdc: number | null;
  description: string;
  metric: string;
}

export function taskRow(t: Task): TaskRow {
  const ref = t.loadReference ? t.loadReference() : null;
  return {
    name: t.name, defaultModel: t.defaultModel, fallbackModel: t.fallbackModel,
    referenceEdges: ref ? ref.edges.size : null, referenceEdgesAcdc: ref ? ref.acdcCount : null,
    description: t.description, metric: t.metricName,
  };
}

export function taskRows(): TaskRow[] {
  return listTasks().map(taskRow);
}

function table(rows: TaskRow[]): string {
  const head = ['name', 'default model', 'fallback', 'reference edges (ACDC count)', 'metric'];
  const cells = rows.map((r) => [
    r.name, r.defaultModel, r.fallbackModel ?? '-',
    r.referenceEdges === null ? '-' : `${r.referenceEdges} (${r.referenceEdgesAcdc})`,
    r.metric,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

interface TasksArgs { json: boolean; quiet: boolean }

export const tasksCommand: CommandModule<object, TasksArgs> = {
  command: 'tasks',
  describe: 'List the built-in tasks, their models and reference circuits',
  builder: (y: Argv<object>) => y
    .option('json', { type: 'boolean', default: false, describe: 'print a JSON array' })
    .options(quietOption)
    .example('$0 tasks --json', '') as unknown as Argv<TasksArgs>,
  handler: (argv: ArgumentsCamelCase<TasksArgs>) => {
    const rows = taskRows();
    if (argv.json) {
      process.stdout.write(JSON.stringify(rows.map(({ name, defaultModel, fallbackModel, referenceEdges, referenceEdgesAcdc }) => ({ name, defaultModel, fallbackModel, referenceEdges, referenceEdgesAcdc })), null, 1) + '\n');
      return;
    }
    process.stdout.write(table(rows) + '\n');
    if (!argv.quiet) process.stderr.write('note: custom tasks: --data file.json with { "prompts": [{ "clean", "corrupt", "answer", "wrong"? }], "metric"?, "position"? }\n');
  },
};
