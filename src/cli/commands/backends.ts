/**
 * `circuitscope backends [--json]`: the tfjs backends found on this machine (each: available or
 * not, and why), the WebGPU adapter (vendor, architecture, description, whether it is a fallback
 * / software adapter such as SwiftShader), and which one `--backend auto` (or the `--backend`
 * given) would take, and why. WebGPU is looked at from a child process, the others are
 * initialised here; nothing else runs. The choice is src/model/backend.ts's `chooseBackend`.
 *
 * --json prints `{ backends: [{ backend, available, detail, adapter?, software? }], auto:
 * { backend, reason, passed }, requested? }` (`requested` when --backend is not auto).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import {
  chooseBackend, probeAllBackends, softwareAdapter,
  type BackendChoice, type BackendName, type BackendProbe,
} from '../../model/backend.js';

export interface BackendsReport {
  backends: (BackendProbe & { software?: string | null })[];
  auto: BackendChoice;
  requested?: BackendChoice;
}

/** The report for these probes (pure). */
export function backendsReport(probes: readonly BackendProbe[], requested: BackendName = 'auto'): BackendsReport {
  return {
    backends: probes.map((p) => (p.adapter ? { ...p, software: softwareAdapter(p.adapter) } : { ...p })),
    auto: chooseBackend('auto', probes),
    ...(requested !== 'auto' ? { requested: chooseBackend(requested, probes) } : {}),
  };
}

/** The report as text: a table, the adapter's fields, then the choice. */
export function formatBackendsReport(r: BackendsReport): string {
  const head = ['backend', 'available', 'detail'];
  const cells = r.backends.map((p) => [p.backend, p.available ? 'yes' : 'no', p.detail]);
  const w = head.map((h, j) => Math.max(h.length, ...cells.map((c) => c[j].length)));
  const fmt = (c: string[]) => c.map((s, j) => (j === c.length - 1 ? s : s.padEnd(w[j]))).join('  ').trimEnd();
  const lines = [fmt(head), ...cells.map(fmt), ''];
  const gpu = r.backends.find((p) => p.backend === 'webgpu');
  if (gpu?.adapter) {
    const a = gpu.adapter;
    lines.push('WebGPU adapter:',
      `  vendor        ${a.vendor || '?'}`,
      `  architecture  ${a.architecture || '?'}`,
      `  device        ${a.device || '?'}`,
      `  description   ${a.description || '?'}`,
      `  fallback      ${a.isFallbackAdapter ? 'yes' : 'no'}`,
      `  kind          ${gpu.software ? `software (${gpu.software}): auto does not take it, --backend webgpu does` : 'hardware GPU'}`,
      '');
  }
  const say = (label: string, c: BackendChoice) => `${label} -> ${c.backend ?? 'nothing'}: ${c.backend ? c.reason.replace(/^[\w-]+: /, '') : c.reason}`;
  lines.push(say('--backend auto', r.auto));
  if (r.requested) lines.push(say(`--backend ${r.requested.requested}`, r.requested));
  return lines.join('\n');
}

interface BackendsArgs {
  json: boolean;
  backend: BackendName;
}

export const backendsCommand: CommandModule<object, BackendsArgs> = {
  command: 'backends',
  describe: 'Show the tfjs backends found here (WebGPU adapter included) and which one --backend auto takes, and why',
  builder: (y: Argv) =>
    y.option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }) as unknown as Argv<BackendsArgs>,
  handler: async (argv: ArgumentsCamelCase<BackendsArgs>) => {
    const report = backendsReport(await probeAllBackends(), argv.backend ?? 'auto');
    process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBackendsReport(report)}\n`);
  },
};
