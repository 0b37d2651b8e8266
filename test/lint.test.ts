// The layer rules are a checked fact, not a convention: the linter refuses an upward import and a cycle.
import t from 'tap';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT, ignore: false });

async function ruleIds(text: string, filePath: string): Promise<string[]> {
  const [r] = await eslint.lintText(text, { filePath });
  return (r?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

t.test('an upward import fails lint, naming the layer rule', async (t) => {
  t.same(await ruleIds("import { VERSION } from '../model/version.js';\nexport const v = VERSION;\n", `${ROOT}engine/lint-fixture.ts`), [],
    'engine/ may import model/');
  t.same(await ruleIds("import { main } from '../cli/main.js';\nexport const r = main;\n", `${ROOT}model/lint-fixture.ts`),
    ['import-x/no-restricted-paths'], 'model/ may not import cli/');
  t.same(await ruleIds("import { createApp } from '../api/app.js';\nexport const o = createApp;\n", `${ROOT}stores/lint-fixture.ts`),
    ['import-x/no-restricted-paths'], 'stores/ may not import api/');
  t.same(await ruleIds("import { Simulator } from '../engine/simulator.js';\nexport const s = Simulator;\n", `${ROOT}api/lint-fixture.ts`),
    ['import-x/no-restricted-paths'], 'api/ knows the engine only through model/ and api/deps.ts');
  t.same(await ruleIds("import type { Simulator } from '../../engine/simulator.js';\nexport type T = Simulator;\n", `${ROOT}panel/src/lint-fixture.ts`),
    ['import-x/no-restricted-paths'], 'the panel uses model/ types only');
});

t.test('an import cycle fails lint', async (t) => {
  const results = await eslint.lintFiles(['test/fixtures/layers/cycle-a.ts']);
  t.same(results.flatMap((r) => r.messages.map((m) => m.ruleId)), ['import-x/no-cycle']);
});

t.test('the tree itself passes the layer rules', async (t) => {
  const results = await eslint.lintFiles(['model', 'engine', 'stores', 'api', 'daemon', 'cli', 'panel/src']);
  const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId?.startsWith('import-x/')).map((m) => `${r.filePath}:${m.line} ${m.ruleId}`));
  t.same(bad, []);
});
