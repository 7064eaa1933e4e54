#!/usr/bin/env node
/**
 * The `circuitscope` command line. Commands live in src/cli/commands/ (one module each) and
 * are registered from the list in commands/index.ts. `--backend` is global: every command
 * that touches tensors calls `initBackend(argv.backend)` first.
 *
 * Errors: yargs usage errors print the message and a pointer to --help; errors thrown by a
 * command print one line `circuitscope: <message>` on stderr; both exit 1. Set
 * CIRCUITSCOPE_DEBUG=1 to get the stack trace as well.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS } from '../model/backend.js';
import { commands } from './commands/index.js';

function report(err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`circuitscope: ${msg.split('\n')[0]}\n`);
  if (process.env.CIRCUITSCOPE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv)
    .scriptName('circuitscope')
    .usage('$0 <command> [options]\n\nAutomatic circuit discovery for transformer language models, on tfjs.')
    .option('backend', {
      choices: BACKENDS,
      default: 'auto' as const,
      global: true,
      describe: 'tfjs backend; auto = webgpu on a hardware GPU (never a software adapter such as SwiftShader), else node-gpu, node, wasm, cpu (see `circuitscope backends`)',
    })
    .strict()
    .demandCommand(1, 'Give a command (see --help).')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .epilogue('Set CIRCUITSCOPE_DEBUG=1 for stack traces. Docs: README.md.')
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`circuitscope: ${msg}\nRun 'circuitscope --help' for usage.\n`);
      process.exit(1);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  report(err);
  process.exitCode = 1;
});
