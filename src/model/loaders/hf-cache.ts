/**
 * The local Hugging Face hub cache (Node only: it reads the disk and the environment). Names like
 * 'gpt2' or 'openai-community/gpt2' resolve to a snapshot folder in $HF_HUB_CACHE,
 * $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub or
 * ~/.cache/huggingface/hub; nothing is downloaded. The folder is then read like any model
 * directory (./hf-gpt2.ts over `nodeFiles`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { nodeFiles } from '../node-files.js';
import { hfWeightsFile, isHfGpt2Config, looksLikeHfName } from './hf-gpt2.js';

const isFile = nodeFiles.isFile;
const isDirectory = nodeFiles.isDirectory;

/** Hub cache directories to search, in huggingface_hub's order of precedence. */
export function hfHubCacheDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env.HF_HUB_CACHE) dirs.push(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) dirs.push(env.HUGGINGFACE_HUB_CACHE);
  if (env.HF_HOME) dirs.push(join(env.HF_HOME, 'hub'));
  if (env.XDG_CACHE_HOME) dirs.push(join(env.XDG_CACHE_HOME, 'huggingface', 'hub'));
  dirs.push(join(env.HOME || homedir(), '.cache', 'huggingface', 'hub'));
  return [...new Set(dirs)];
}

/** Canonical hub ids of the GPT-2 family that moved under an organisation. */
const ALIASES: Readonly<Record<string, string>> = {
  gpt2: 'openai-community/gpt2',
  'gpt2-medium': 'openai-community/gpt2-medium',
  'gpt2-large': 'openai-community/gpt2-large',
  'gpt2-xl': 'openai-community/gpt2-xl',
  distilgpt2: 'distilbert/distilgpt2',
};

function repoIds(id: string): string[] {
  const ids = [id];
  const alias = ALIASES[id];
  if (alias) ids.push(alias);
  for (const [short, long] of Object.entries(ALIASES)) if (long === id) ids.push(short);
  return ids;
}

function repoDirName(id: string): string {
  return `models--${id.split('/').join('--')}`;
}

function usableSnapshot(dir: string): boolean {
  return isFile(join(dir, 'config.json')) && hfWeightsFile(nodeFiles, dir) !== null;
}

/** The snapshot of a cached repo to use: the revision asked for, else refs/main, else the newest usable one. */
function pickSnapshot(repoDir: string, revision?: string): string | null {
  const snaps = join(repoDir, 'snapshots');
  const ref = (r: string): string => {
    const p = join(repoDir, 'refs', r);
    return isFile(p) ? readFileSync(p, 'utf8').trim() : r;
  };
  if (revision) {
    const d = join(snaps, ref(revision));
    return usableSnapshot(d) ? d : null;
  }
  const main = join(repoDir, 'refs', 'main');
  if (isFile(main)) {
    const d = join(snaps, readFileSync(main, 'utf8').trim());
    if (usableSnapshot(d)) return d;
  }
  let best: string | null = null, bestTime = -Infinity;
  let names: string[] = [];
  try { names = readdirSync(snaps); } catch { return null; }
  for (const n of names) {
    const d = join(snaps, n);
    if (!usableSnapshot(d)) continue;
    const t = statSync(d).mtimeMs;
    if (t > bestTime) { best = d; bestTime = t; }
  }
  return best;
}

/**
 * Resolve a hub id ('gpt2', 'openai-community/gpt2', 'org/name@revision') to a snapshot
 * directory in the local cache. Throws, saying how to get the model, when it is not there.
 */
export function resolveHfName(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!looksLikeHfName(name)) throw new Error(`hf-gpt2: '${name}' is not a Hugging Face model id (org/name or name)`);
  const [id, revision] = name.split('@') as [string, string | undefined];
  const caches = hfHubCacheDirs(env);
  const ids = repoIds(id);
  const incomplete: string[] = [];
  for (const cache of caches) {
    for (const rid of ids) {
      const repoDir = join(cache, repoDirName(rid));
      if (!isDirectory(repoDir)) continue;
      const snap = pickSnapshot(repoDir, revision);
      if (snap) return snap;
      incomplete.push(repoDir);
    }
  }
  const dl = `huggingface-cli download ${id}${revision ? ` --revision ${revision}` : ''} config.json model.safetensors`;
  if (incomplete.length) {
    throw new Error(`hf-gpt2: '${name}' is in the Hugging Face cache (${incomplete.join(', ')}) but no snapshot${revision ? ` for revision '${revision}'` : ''} holds config.json and model.safetensors; fetch them with \`${dl}\`, or pass a model directory`);
  }
  throw new Error(`hf-gpt2: '${name}' is not a file or directory, and not in the Hugging Face cache (looked for ${ids.map(repoDirName).join(', ')} in ${caches.join(', ')}); download it with \`${dl}\` (or set HF_HOME / HF_HUB_CACHE to your cache), or pass a model directory`);
}

/** GPT-2-type models in the local hub cache(s), by hub id. */
export function listHfCache(env: NodeJS.ProcessEnv = process.env): { name: string; path: string }[] {
  const found = new Map<string, string>();
  for (const cache of hfHubCacheDirs(env)) {
    let entries: string[] = [];
    try { entries = readdirSync(cache); } catch { continue; }
    for (const e of entries) {
      if (!e.startsWith('models--')) continue;
      const name = e.slice('models--'.length).split('--').join('/');
      if (found.has(name)) continue;
      const snap = pickSnapshot(join(cache, e));
      if (!snap) continue;
      let json: unknown;
      try { json = JSON.parse(readFileSync(join(snap, 'config.json'), 'utf8')); } catch { continue; }
      if (isHfGpt2Config(json)) found.set(name, snap);
    }
  }
  return [...found].map(([name, path]) => ({ name, path })).sort((a, b) => a.name.localeCompare(b.name));
}
