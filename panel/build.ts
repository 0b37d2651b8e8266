// Builds the control panel into static files the daemon serves under /ui/: index.html, app.js (preact
// and the panel, minified) and app.css. No CDN and no network: everything comes from node_modules.
// Run by `npm run build:panel`; tests call buildPanel() to serve the sources they are testing.
import { build } from 'esbuild';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where `npm run build` leaves the panel; the daemon is pointed here. */
export const PANEL_DIST = join(HERE, 'dist');

export interface PanelBuild { dir: string; files: { name: string; bytes: number }[] }

export async function buildPanel(outDir: string = PANEL_DIST): Promise<PanelBuild> {
  const dir = resolve(outDir);
  await mkdir(dir, { recursive: true });
  await build({
    entryPoints: { app: join(HERE, 'src/main.tsx') },
    outdir: dir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
  });
  await build({
    entryPoints: { app: join(HERE, 'src/app.css') }, outdir: dir, bundle: true, minify: true, logLevel: 'warning',
  });
  await copyFile(join(HERE, 'index.html'), join(dir, 'index.html'));
  const files = [];
  for (const name of ['index.html', 'app.js', 'app.css']) files.push({ name, bytes: (await stat(join(dir, name))).size });
  return { dir, files };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await buildPanel(process.argv[2] ?? PANEL_DIST);
  const total = r.files.reduce((a, f) => a + f.bytes, 0);
  process.stdout.write(`panel: ${r.files.map((f) => `${f.name} ${(f.bytes / 1024).toFixed(1)} KiB`).join(', ')} (${(total / 1024).toFixed(1)} KiB) in ${r.dir}\n`);
}
