/**
 * A model from the Hugging Face hub (the app's one optional online path): `config.json` and the
 * weights of a repo, fetched from `<hub>/<repo>/resolve/main/<file>` as the hub lays them out
 * (`https://huggingface.co` by default; any server with that layout, e.g. a mirror, through the
 * page's hub field or `?hub=`). The weights are `model.safetensors`, else the shards named by
 * `model.safetensors.index.json` (its `weight_map`), else `pytorch_model.bin`. The files become
 * File objects handed to the worker exactly as picked files are (`PickedFile`, under a folder
 * named after the repo), so the same loaders read them.
 *
 * The page is cross-origin isolated (COEP require-corp): the hub's responses must allow CORS
 * (huggingface.co sends `Access-Control-Allow-Origin: *`, also on its CDN redirects). Private
 * and gated repos need a token, which this page never sends. Errors are one line naming the URL.
 */
import type { PickedFile } from './protocol.js';

export const DEFAULT_HUB = 'https://huggingface.co';

/** A repo id as the hub writes it: `name` or `owner/name` (letters, digits, '-', '_', '.'). */
export function checkRepo(repo: string): string {
  const r = repo.trim().replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(r) || r.includes('..')) {
    throw new Error(`hub: '${repo}' is not a Hugging Face repo id (expected a name like gpt2 or owner/name)`);
  }
  return r;
}

/** The hub's base URL, checked: http(s), no trailing slash. */
export function checkHub(hub: string): string {
  const h = hub.trim();
  let u: URL;
  try { u = new URL(h); } catch { throw new Error(`hub: '${hub}' is not a URL (expected e.g. ${DEFAULT_HUB})`); }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`hub: '${hub}' is not an http(s) URL`);
  return h.replace(/\/+$/, '');
}

export const hubUrl = (hub: string, repo: string, file: string): string => `${hub}/${repo}/resolve/main/${file.split('/').map(encodeURIComponent).join('/')}`;

/** Bytes fetched so far (for a progress line): the file, its bytes read and its size when the server says it. */
export type HubProgress = (file: string, loaded: number, size: number | null) => void;

/** Why a status failed, in words. */
function statusWords(status: number): string {
  if (status === 404) return ' (no such repo or file)';
  if (status === 401 || status === 403) return ' (no such repo, or a private or gated one: this page sends no token)';
  if (status === 429) return ' (rate limited: try again later)';
  return '';
}

/** One file: its bytes as a Blob, or null for a 404 when `optional`. */
async function get(hub: string, repo: string, file: string, optional: boolean, progress?: HubProgress): Promise<Blob | null> {
  const url = hubUrl(hub, repo, file);
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new Error(`hub: ${url}: network error (${e instanceof Error ? e.message : String(e)}: offline, the server is unreachable, or it does not allow this page to read it (CORS))`);
  }
  if (r.status === 404 && optional) { void r.body?.cancel(); return null; }
  if (!r.ok) { void r.body?.cancel(); throw new Error(`hub: ${url}: HTTP ${r.status}${statusWords(r.status)}`); }
  const size = Number(r.headers.get('content-length')) || null;
  if (!r.body) return r.blob();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = r.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.length;
      progress?.(file, loaded, size);
    }
  } catch (e) {
    throw new Error(`hub: ${url}: the download broke off after ${loaded} bytes (${e instanceof Error ? e.message : String(e)})`);
  }
  return new Blob(parts as BlobPart[]);
}

/** The shard files a `model.safetensors.index.json` names, in order of first appearance. */
export function shardsOf(indexText: string, url: string): string[] {
  let idx: { weight_map?: unknown };
  try { idx = JSON.parse(indexText) as { weight_map?: unknown }; } catch (e) { throw new Error(`hub: ${url}: not valid JSON (${(e as Error).message})`); }
  const wm = idx?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new Error(`hub: ${url}: has no weight_map object`);
  const shards = [...new Set(Object.values(wm as Record<string, unknown>))];
  const bad = shards.find((f) => typeof f !== 'string' || !/^[\w.-]+$/.test(f));
  if (bad !== undefined) throw new Error(`hub: ${url}: weight_map names an invalid shard ${JSON.stringify(bad)}`);
  if (shards.length === 0) throw new Error(`hub: ${url}: weight_map is empty`);
  return shards as string[];
}

/** The repo's config.json and weights, as picked files under the folder `<repo>/`. */
export async function fetchHubModel(hubBase: string, repoId: string, progress?: HubProgress): Promise<PickedFile[]> {
  const hub = checkHub(hubBase), repo = checkRepo(repoId);
  const file = (name: string, blob: Blob): PickedFile => ({ path: `${repo}/${name}`, file: new File([blob], name.split('/').pop()!) });
  const config = (await get(hub, repo, 'config.json', false, progress))!;
  const out = [file('config.json', config)];
  const single = await get(hub, repo, 'model.safetensors', true, progress);
  if (single) return [...out, file('model.safetensors', single)];
  const index = await get(hub, repo, 'model.safetensors.index.json', true, progress);
  if (index) {
    out.push(file('model.safetensors.index.json', index));
    for (const shard of shardsOf(await index.text(), hubUrl(hub, repo, 'model.safetensors.index.json'))) out.push(file(shard, (await get(hub, repo, shard, false, progress))!));
    return out;
  }
  const bin = await get(hub, repo, 'pytorch_model.bin', true, progress);
  if (bin) return [...out, file('pytorch_model.bin', bin)];
  throw new Error(`hub: ${hubUrl(hub, repo, '')}: the repo has none of model.safetensors, model.safetensors.index.json, pytorch_model.bin (HTTP 404 for each)`);
}
