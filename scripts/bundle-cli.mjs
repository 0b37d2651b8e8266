// `npm run build`, after tsc: dist/cli/main.js becomes one file holding the CLI, the model and the
// engine, so `midotrace simulate` reads and compiles one module instead of ~60 (module loading was
// most of a one-shot run). Everything else stays the tsc output beside it and loads when a verb needs
// it: the daemon and its workers (which find their files next to their own modules), the stores,
// the API, the packages in node_modules, and whatever imports zod (the topology and condition
// schemas). Their import paths are rewritten relative to dist/cli/, where the bundle is written.
// commander is bundled too: it requires node:child_process (and through it net, dgram, ...) when
// loaded, only for executable subcommands, which midotrace has none of; in the bundle that module
// is required the first time commander touches it, i.e. never. That was 40 % of `simulate`.
import { build } from 'esbuild';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED = ['cli', 'engine', 'model'].map((d) => join(root, d) + '/');
const UNBUNDLED = ['model/topology/load.ts', 'model/topology/schema.ts', 'model/condition-schema.ts'].map((f) => join(root, f));

const keepOutside = {
  name: 'keep-outside',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.importer.includes('/node_modules/')) return undefined;
      const target = resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
      if (BUNDLED.some((d) => target.startsWith(d)) && !UNBUNDLED.includes(target)) return undefined;
      let path = relative(join(root, 'cli'), target).replace(/\.ts$/, '.js');
      if (!path.startsWith('.')) path = `./${path}`;
      return { path, external: true };
    });
  },
};

/** commander's node:child_process, required on first use. */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      (args.importer.includes('/node_modules/commander/') ? { path: 'lazy-child-process', namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      loader: 'js',
      contents: "module.exports = new Proxy({}, { get: (_, k) => require('node:child_process')[k] });",
    }));
  },
};

await build({
  entryPoints: [join(root, 'cli/main.ts')],
  outfile: join(root, 'dist/cli/main.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Every package stays in node_modules but commander (see above).
  external: ['better-sqlite3', 'cassandra-driver', 'koffi', 'piscina', 'koa', '@koa/*', 'pino', 'prom-client', 'yaml', 'zod', 'node-zookeeper-client'],
  plugins: [keepOutside, lazyChildProcess],
  // The CommonJS inside (commander) requires Node's modules: give the ES module a require().
  banner: { js: "import { createRequire as __midotraceRequire } from 'node:module';\nconst require = __midotraceRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
