// @ts-check
/**
 * The layering of src/, checked by dependency-cruiser (`npm run check:layers`; `npm test` runs it
 * as test/unit/layering.test.ts). DESIGN.md: "Data flows one way: tasks -> model runs it ->
 * patching evaluates -> discovery decides -> eval scores -> report/cli render. No module imports
 * a module to its right, type imports included."
 *
 * Layers of src/ top-level folders, lowest first. A folder may import only itself and the
 * folders listed below it:
 *
 *   util -> model -> graph -> report -> tasks -> patching -> parallel -> discovery -> eval -> cli
 *
 *   - report sits just above graph: its files are pure renderers (SVG heatmaps, the circuit
 *     HTML page, the circuit file's DOT/MIB conversions) that know edge names and plain numbers,
 *     never a model run. Render *data* flows out of eval, but the *imports* go the other way:
 *     eval's HTML sections (eval/html.ts, eval/plot.ts), analysis and cli call report's
 *     renderers, so report must be below all of them.
 *   - parallel is the thread half of the patching engine (may import patching and below);
 *     discovery sees it only through the evaluator interface.
 *
 * Two side branches, below cli, that nothing else in the engine may import:
 *   analysis  hand workflows (attention, heads, DLA, activation patching):
 *             util, model, graph, report, tasks, patching
 *   train     trains the shipped models: util, model, tasks
 *
 * web/ (the browser app) sits above the engine: it may import src/ except src/cli/, and nothing
 * in src/ imports web/. Nothing the app's page or worker reaches may be Node-only: no Node core
 * module and none of the Node adapters (NODE_ONLY below); web/vite.config.ts is build tooling.
 *
 * Plus: no import cycles among src/ files (type-only imports included: tsPreCompilationDeps),
 * commands in src/cli/commands/ never import each other (only their index registers them),
 * src/ never imports test/, bench/, models/ or scripts/, every import resolves (so a resolver
 * misconfiguration cannot make the layer rules pass vacuously), and every src/ folder belongs
 * to a layer (a new folder must be placed here first).
 */

/** layer -> the folders it may import besides itself */
const LAYERS = {
  util: [],
  model: ['util'],
  graph: ['util', 'model'],
  report: ['util', 'model', 'graph'],
  tasks: ['util', 'model', 'graph', 'report'],
  patching: ['util', 'model', 'graph', 'report', 'tasks'],
  parallel: ['util', 'model', 'graph', 'report', 'tasks', 'patching'],
  discovery: ['util', 'model', 'graph', 'report', 'tasks', 'patching', 'parallel'],
  eval: ['util', 'model', 'graph', 'report', 'tasks', 'patching', 'parallel', 'discovery'],
  analysis: ['util', 'model', 'graph', 'report', 'tasks', 'patching'],
  train: ['util', 'model', 'tasks'],
  // cli: yargs commands and Node glue, may import every layer (no rule below).
  cli: null,
};

const any = (names) => `^src/(${names.join('|')})/`;

/** Modules that run only under Node: core modules, and the engine's Node adapters. */
const NODE_ONLY = [
  '^(node:)?(fs|path|url|os|child_process|module|zlib|worker_threads|http|https|net|crypto|stream|util)$',
  '^src/model/(node-files|load-model|backend|backend-probe)\\.ts$',
  '^src/model/loaders/(index|hf-cache)\\.ts$',
  '^src/tasks/custom-file\\.ts$',
  '^src/parallel/(node-threads|worker)\\.ts$',
  '^src/cli/',
];

/** One rule per layer: nothing from `src/<layer>/` into a src/ folder outside its allowed set. */
const layerRules = Object.entries(LAYERS)
  .filter(([, allowed]) => allowed !== null)
  .map(([layer, allowed]) => ({
    name: `layer-${layer}`,
    comment:
      `src/${layer}/ may import only ${allowed.length ? allowed.map((l) => `src/${l}/`).join(', ') : 'nothing else in src/'}` +
      ' (and itself); see the layer order at the top of .dependency-cruiser.cjs',
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: '^src/', pathNot: any([layer, ...allowed]) },
  }));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'src/ files form no import cycle (type-only imports count: tsPreCompilationDeps)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'cli-commands-independent',
      comment:
        'a command in src/cli/commands/ never imports another command (shared code goes to ' +
        'src/cli/ or a lower layer); only commands/index.ts registers them',
      severity: 'error',
      from: { path: '^src/cli/commands/([^/.]+)', pathNot: '^src/cli/commands/index\\.ts$' },
      to: { path: '^src/cli/commands/', pathNot: '^src/cli/commands/$1(/|\\.ts$)' },
    },
    {
      name: 'folder-not-in-a-layer',
      comment:
        'every folder of src/ is a layer listed in LAYERS above (place a new folder there ' +
        'first): nothing in src/ imports a file of an unlisted folder',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: any(Object.keys(LAYERS)) },
    },
    {
      name: 'folder-not-in-a-layer-imports',
      comment: 'a file of a src/ folder not listed in LAYERS imports nothing from src/',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: any(Object.keys(LAYERS)) },
      // (its imports of other unlisted folders are already the rule above)
      to: { path: `^src/((${Object.keys(LAYERS).join('|')})/|[^/]+$)` },
    },
    {
      name: 'web-not-into-cli',
      comment: 'web/ (the browser app) imports the engine, never the CLI',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'nothing-into-web',
      comment: 'web/ is the top of the stack: nothing in src/ imports it',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^web/' },
    },
    {
      name: 'web-reaches-no-node',
      comment:
        'nothing the page or its worker reaches runs only under Node (a core module, or one of the ' +
        "engine's Node adapters: NODE_ONLY); loaders take bytes through ModelFiles",
      severity: 'error',
      from: { path: '^web/[^/]+\\.ts$', pathNot: '^web/vite\\.config\\.ts$' },
      to: { reachable: true, path: NODE_ONLY },
    },
    {
      name: 'src-not-to-outside',
      comment: 'src/ is the shipped package: it never imports test/, bench/, models/ or scripts/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|models|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'every import resolves; an unresolved one would slip past the layer rules above ' +
        '(and means a moved file left a stale import behind)',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports (`import type`, `import { type X }`) are dependencies too.
    tsPreCompilationDeps: true,
    // Resolve NodeNext-style `./x.js` specifiers to the `./x.ts` sources.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    moduleSystems: ['es6', 'cjs'],
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
