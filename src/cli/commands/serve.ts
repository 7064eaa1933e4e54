/**
 * `circuitscope serve [--port P] [--host H] [--dir D]`: serve the browser app (web/, built into
 * dist-web/ by `npm run build:web`, which `npm ci` runs) on this machine and print its URL. The
 * engine runs in the page; this server only hands out files: the app, the tfjs wasm binaries
 * and the shipped models. Every response carries the cross-origin-isolation headers that wasm
 * threads (SharedArrayBuffer) need. Runs until interrupted (Ctrl-C).
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { numberOption, quietOption } from '../options.js';

interface ServeArgs { port: number; host: string; dir?: string; quiet: boolean }

export const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.pt': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Headers on every response: cross-origin isolation (wasm threads), no caching of a stale build. */
export const SERVE_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** The built app: dist-web/ at the package root (from src/cli/commands or dist/src/cli/commands). */
export function defaultAppDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../..', 'dist-web'), resolve(here, '../../../..', 'dist-web')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

/** Newest modification time of the files under `dir` (ms; 0 when there is none). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * In a checkout (the app's sources beside it: web/, src/, models/ in the folder above `appDir`),
 * the first source folder changed after the app was built, or null when the build is current
 * (or `appDir` is not a checkout's build, or not built: existsSync of index.html is the caller's).
 */
export function staleApp(appDir: string): string | null {
  const index = join(appDir, 'index.html');
  const root = dirname(resolve(appDir));
  if (!existsSync(index) || !existsSync(join(root, 'web', 'index.html'))) return null;
  const built = statSync(index).mtimeMs;
  return ['web', 'src', 'models'].find((d) => existsSync(join(root, d)) && newest(join(root, d)) > built) ?? null;
}

/** A static file server for `dir` (GET / HEAD only, no listing, nothing outside `dir`). */
export function appServer(dir: string): Server {
  const root = resolve(dir);
  return createServer((req, res) => {
    const send = (code: number, text: string) => {
      res.writeHead(code, { ...SERVE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad request');
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden');
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) return send(404, `not found: ${path}`);
    res.writeHead(200, {
      ...SERVE_HEADERS,
      'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(statSync(file).size),
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Serve the browser app (the engine runs in the page) and print its URL',
  builder: (y: Argv<object>) => y
    .options({ port: numberOption('port', 'port to listen on (0: any free port)', { int: true, min: 0, max: 65535 }, { default: 8080 }) })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'interface to listen on (0.0.0.0: every one)' })
    .option('dir', { type: 'string', describe: 'the built app to serve (default: the package\'s dist-web/)' })
    .options(quietOption) as unknown as Argv<ServeArgs>,
  handler: async (argv: ArgumentsCamelCase<ServeArgs>) => {
    const dir = argv.dir ? resolve(argv.dir) : defaultAppDir();
    if (!existsSync(join(dir, 'index.html'))) {
      throw new Error(argv.dir
        ? `serve: --dir ${argv.dir} holds no index.html (build the app with \`npm run build:web\`)`
        : `serve: the browser app is not built (no ${join(dir, 'index.html')}); run \`npm run build:web\``);
    }
    const stale = staleApp(dir);
    if (stale && !argv.quiet) process.stderr.write(`note: ${dir} is older than ${stale}/ beside it: run \`npm run build:web\` to serve your changes\n`);
    const server = appServer(dir);
    await new Promise<void>((ok, fail) => {
      server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(e.code === 'EADDRINUSE' ? `serve: port ${argv.port} is in use; pick another with --port` : `serve: ${e.message}`)));
      server.listen(argv.port, argv.host, () => ok());
    });
    const { port } = server.address() as AddressInfo;
    const host = argv.host === '0.0.0.0' || argv.host === '::' ? 'localhost' : argv.host.includes(':') ? `[${argv.host}]` : argv.host;
    process.stdout.write(`http://${host}:${port}/\n`);
    if (!argv.quiet) process.stderr.write(`serving ${dir} (Ctrl-C stops)\n`);
    await new Promise<void>((ok) => {
      const stop = () => { server.close(); ok(); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
