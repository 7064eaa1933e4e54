/**
 * The task registry: every built-in task under one name. Registering a name twice is an
 * error; `getTask` names the known tasks when asked for an unknown one. Custom JSON tasks are
 * not registered (load them with `loadCustomTask`, ./custom.ts).
 */
import { docstringTask } from './docstring.js';
import { greaterThanTask } from './greater-than.js';
import { inductionTask } from './induction.js';
import { ioiAcdcTask, ioiTask } from './ioi/index.js';
import { toyTasks } from './toy.js';
import type { Task } from './types.js';

export class TaskRegistry {
  private readonly tasks = new Map<string, Task>();

  register(task: Task): void {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(task.name)) throw new Error(`tasks: invalid task name '${task.name}' (lower-case letters, digits and '-')`);
    if (this.tasks.has(task.name)) throw new Error(`tasks: a task named '${task.name}' is already registered`);
    this.tasks.set(task.name, task);
  }

  get(name: string): Task {
    const t = this.tasks.get(name);
    if (!t) throw new Error(`tasks: unknown task '${name}' (known: ${this.names().join(', ')}; or give a custom task file with --data)`);
    return t;
  }

  has(name: string): boolean { return this.tasks.has(name); }
  names(): string[] { return [...this.tasks.keys()]; }
  list(): Task[] { return [...this.tasks.values()]; }
}

export const TASKS = new TaskRegistry();
for (const t of [ioiTask, ioiAcdcTask, greaterThanTask, docstringTask, inductionTask, ...toyTasks]) TASKS.register(t);

export function getTask(name: string): Task { return TASKS.get(name); }
export function listTasks(): Task[] { return TASKS.list(); }
export function taskNames(): string[] { return TASKS.names(); }
