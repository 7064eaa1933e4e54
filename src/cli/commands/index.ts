/**
 * The CLI's commands, in the order --help lists them. Add a command by writing
 * src/cli/commands/<name>.ts (a yargs CommandModule) and appending it here.
 */
import type { CommandModule } from 'yargs';
import { logitsCommand } from './logits.js';
import { modelsCommand } from './models.js';
import { patchCommand } from './patch.js';
import { graphCommand } from './graph.js';
import { tasksCommand } from './tasks.js';
import { discoverCommand } from './discover.js';
import { attentionCommand } from './attention.js';
import { headsCommand } from './heads.js';
import { dlaCommand } from './dla.js';
import { evaluateCommand } from './evaluate.js';
import { sweepCommand } from './sweep.js';
import { compareCommand } from './compare.js';
import { backendsCommand } from './backends.js';
import { serveCommand } from './serve.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [logitsCommand, modelsCommand, graphCommand, tasksCommand, discoverCommand, evaluateCommand, sweepCommand, compareCommand, patchCommand, attentionCommand, headsCommand, dlaCommand, backendsCommand, serveCommand];
