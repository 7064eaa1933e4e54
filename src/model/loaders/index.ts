/**
 * The loaders on Node's file system: `loadCheckpoint(spec)` is `loadCheckpointFrom`
 * (./checkpoint.ts, which reads through `ModelFiles`) over `nodeFiles`, with hub ids resolved in
 * the local Hugging Face cache (./hf-cache.ts). A browser imports ./checkpoint.ts instead.
 */
import { nodeFiles } from '../node-files.js';
import { loadCheckpointFrom, type Checkpoint, type LoadCheckpointOptions } from './checkpoint.js';
import { resolveHfName } from './hf-cache.js';

export { loadCheckpointFrom, type Checkpoint, type CheckpointFormat, type LoadCheckpointOptions } from './checkpoint.js';
export { listHfCache, resolveHfName, hfHubCacheDirs } from './hf-cache.js';

export async function loadCheckpoint(spec: string, opts: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  return loadCheckpointFrom(nodeFiles, spec, { ...opts, resolveHfName: (name) => resolveHfName(name) });
}
