/**
 * The browser app's build (`npm run build:web` -> dist-web/). Everything the page needs is in
 * the build, nothing is fetched from elsewhere: the tfjs wasm binaries (tfjs-wasm/) and the
 * shipped models (models/<name>/ with an index.json) are copied in by the plugin below.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const require = createRequire(import.meta.url);

/** [path in the build, absolute source] of every static asset the app serves. */
function assets(): [string, string][] {
  const out: [string, string][] = [];
  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of readdirSync(wasmDir)) if (f.endsWith('.wasm')) out.push([`tfjs-wasm/${f}`, join(wasmDir, f)]);
  const models = join(root, 'models');
  for (const name of readdirSync(models)) {
    const dir = join(models, name);
    if (!existsSync(join(dir, 'config.json'))) continue;
    for (const f of readdirSync(dir)) if (f === 'config.json' || /\.(safetensors|json)$/.test(f)) out.push([`models/${name}/${f}`, join(dir, f)]);
  }
  return out;
}

function modelIndex(): string {
  const models = join(root, 'models');
  const list = readdirSync(models).filter((n) => existsSync(join(models, n, 'config.json'))).sort().map((name) => {
    const files = readdirSync(join(models, name)).filter((f) => f === 'config.json' || /\.(safetensors|json)$/.test(f));
    const readme = existsSync(join(models, name, 'README.md')) ? readFileSync(join(models, name, 'README.md'), 'utf8') : '';
    const description = readme.split('\n').find((l) => l.trim() && !l.startsWith('#'))?.trim() ?? '';
    return { name, files, description };
  });
  return JSON.stringify({ models: list }, null, 1);
}

const mime = (p: string) => (p.endsWith('.wasm') ? 'application/wasm' : p.endsWith('.json') ? 'application/json' : 'application/octet-stream');

/** Copies the assets into the build, and serves them in `vite dev`. */
function staticAssets(): Plugin {
  return {
    name: 'circuitscope-static-assets',
    generateBundle() {
      for (const [fileName, src] of assets()) this.emitFile({ type: 'asset', fileName, source: readFileSync(src) });
      this.emitFile({ type: 'asset', fileName: 'models/index.json', source: modelIndex() });
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\//, '');
        const body = path === 'models/index.json' ? modelIndex() : assets().find(([p]) => p === path)?.[1];
        if (body === undefined) return next();
        res.setHeader('Content-Type', mime(path));
        res.end(path === 'models/index.json' ? body : readFileSync(body));
      });
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  plugins: [staticAssets()],
  // wasm threads need cross-origin isolation (SharedArrayBuffer), in dev as in `circuitscope serve`
  server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
  worker: { format: 'es' },
  build: {
    outDir: resolve(root, 'dist-web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
  },
});
