/** Custom tasks from a JSON file on disk (Node): the reading half of ./custom.ts. */
import { readFileSync } from 'node:fs';
import { customTaskFromText } from './custom.js';
import type { Task } from './types.js';

/** Read a custom task file; errors name the file. */
export function loadCustomTask(path: string): Task {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`custom task ${path}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return customTaskFromText(text, path);
}
