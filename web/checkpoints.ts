/**
 * Run checkpoints in the browser: discovery's `CheckpointStore` (src/discovery/types.ts) kept in
 * IndexedDB, one record per job, so that a run interrupted by a reload (or Cancel, or a closed
 * tab) continues where it stopped. The worker (./worker.ts) saves as the run goes (ACDC after
 * every receiver, edge-pruning / mattr after every step: the methods whose registry entry has
 * `checkpoints: true`) and deletes the record when the run completes; the page (./main.ts) lists
 * the records on load and offers Resume / Discard. A record is keyed by the job (`jobKey`): the
 * model, task (a custom task's JSON included), method, its own options, n, seed, threshold,
 * top-n, ablation, metric and backend; the URL the app is served from is not part of it.
 * IndexedDB works in pages and workers alike; when it is missing or refuses (some private
 * modes), runs simply go without checkpoints.
 */
import type { CheckpointStore } from '../src/discovery/types.js';
import { LOCAL_MODEL, type RunJob } from './protocol.js';

const DB = 'circuitscope';
const STORE = 'checkpoints';

/** A job as saved (no `base`: the app's URL may change between visits; no `resume`). */
export type SavedJob = Omit<RunJob, 'base' | 'resume'>;

/** One saved run. */
export interface SavedRun {
  key: string;
  job: SavedJob;
  /** the model as named in messages and in the key ('ioi-words', or 'local:gpt2' for the user's files) */
  model: string;
  /** the method's checkpoint text, as it saved it */
  text: string;
  /** the run's progress when saved (the last progress message: edges tested, steps) */
  done: number;
  total: number;
  /** Date.now() of the save */
  savedAt: number;
}

/** The model's name in a key: a shipped model's name, or 'local:' + the name of the folder or repo its files came from. */
export const modelLabel = (job: Pick<RunJob, 'model'>, localSpec: string | null): string => (job.model === LOCAL_MODEL ? `${LOCAL_MODEL}${localSpec ?? '?'}` : job.model);

/** The job's identity: every setting that changes the result, in a fixed order (own options sorted by key). */
export function jobKey(job: RunJob | SavedJob, model: string): string {
  const own = Object.fromEntries(Object.entries(job.own).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({
    model, task: job.task, customTask: job.customTask ?? null, method: job.method, own, n: job.n, seed: job.seed,
    threshold: job.threshold ?? null, topN: job.topN ?? null, ablation: job.ablation, metric: job.metric ?? null, backend: job.backend,
  });
}

/** The job without its URL and resume flag, as a record keeps it. */
export function savedJob(job: RunJob): SavedJob {
  const { base: _base, resume: _resume, ...rest } = job;
  return rest;
}

let opened: Promise<IDBDatabase> | null = null;

/** The database with its store: created at version 1, or one version up when the database exists without the store. */
function openDb(version?: number): Promise<IDBDatabase> {
  return new Promise<IDBDatabase>((resolve, reject) => {
    if (typeof indexedDB === 'undefined') { reject(new Error('this browser has no IndexedDB')); return; }
    const req = version === undefined ? indexedDB.open(DB) : indexedDB.open(DB, version);
    req.onupgradeneeded = () => { if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'key' }); };
    req.onsuccess = () => {
      const d = req.result;
      if (!d.objectStoreNames.contains(STORE)) { const v = d.version + 1; d.close(); openDb(v).then(resolve, reject); return; }
      // another tab upgrading the database: let it, and open again next time
      d.onversionchange = () => { d.close(); opened = null; };
      resolve(d);
    };
    req.onerror = () => reject(req.error ?? new Error('IndexedDB refused to open'));
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

function db(): Promise<IDBDatabase> {
  opened ??= openDb().catch((e: unknown) => { opened = null; throw e; });
  return opened;
}

/** One transaction on the store; resolves with the request's result once the transaction has committed. */
async function tx<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const d = await db();
  return new Promise<T>((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const req = op(t.objectStore(STORE));
    t.oncomplete = () => resolve(req.result);
    t.onerror = () => reject(t.error ?? req.error ?? new Error('IndexedDB transaction failed'));
    t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export const getRun = (key: string): Promise<SavedRun | undefined> => tx('readonly', (s) => s.get(key) as IDBRequest<SavedRun | undefined>);
export const putRun = (run: SavedRun): Promise<void> => tx('readwrite', (s) => s.put(run)).then(() => undefined);
export const deleteRun = (key: string): Promise<void> => tx('readwrite', (s) => s.delete(key)).then(() => undefined);
/** Every saved run, oldest save first. */
export const listRuns = (): Promise<SavedRun[]> => tx('readonly', (s) => s.getAll() as IDBRequest<SavedRun[]>).then((r) => r.sort((a, b) => a.savedAt - b.savedAt));

/** Whether IndexedDB can be used here (it opens). */
export const checkpointsAvailable = (): Promise<boolean> => db().then(() => true, () => false);

/**
 * The store discovery writes this job's checkpoint through: each save replaces the record (one
 * IndexedDB transaction, so a reload mid-save leaves the previous one), with the run's progress
 * at that moment (`progress()`); `onSaved` is told after each save has committed.
 */
export function indexedDbCheckpoint(run: Omit<SavedRun, 'text' | 'done' | 'total' | 'savedAt'>, progress: () => { done: number; total: number }, onSaved?: (r: SavedRun) => void): CheckpointStore {
  return {
    name: `IndexedDB '${DB}' (${run.job.method} on ${run.model})`,
    load: async () => (await getRun(run.key))?.text ?? null,
    save: async (text) => {
      const r: SavedRun = { ...run, text, ...progress(), savedAt: Date.now() };
      await putRun(r);
      onSaved?.(r);
    },
  };
}
