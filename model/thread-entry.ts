// Starts a worker thread on one of our modules, from dist/ (JavaScript) or from sources under tsx
// (tests, development). Node 20 cannot start a thread on a TypeScript file itself: a plain bootstrap
// registers tsx in the thread, then imports the entry.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The module `name` beside the module at `base` (import.meta.url), in the same form: .js from dist/, .ts under tsx. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${extname(fileURLToPath(base))}`, base);
}

export function startThread(entry: URL, options: WorkerOptions): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); })`, { ...options, eval: true });
}
