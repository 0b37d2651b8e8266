// `midotrace install-service`: puts the systemd unit, an example config and the environment file in
// place, pointing ExecStart at this installation's `midotrace`. Existing config files are kept.
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packageRoot } from '../model/paths.js';

export interface InstallOptions {
  /** Install under this directory instead of / (packaging, tests). */
  root?: string;
  /** The midotrace executable ExecStart runs; default: the one running now. */
  bin?: string;
}

export function installService(o: InstallOptions, print: (s: string) => void): void {
  const root = o.root ?? '/';
  const src = join(packageRoot(), 'systemd');
  const bin = o.bin ?? realpathSync(process.argv[1] ?? 'midotrace');
  const unitPath = join(root, 'etc/systemd/system/midotrace.service');
  const unit = readFileSync(join(src, 'midotrace.service'), 'utf8')
    .replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${bin} daemon --config /etc/midotrace/midotrace.yaml`);
  mkdirSync(dirname(unitPath), { recursive: true });
  writeFileSync(unitPath, unit);
  print(`wrote ${unitPath}`);
  for (const [from, to] of [['midotrace.yaml', 'etc/midotrace/midotrace.yaml'], ['midotrace.default', 'etc/default/midotrace']] as const) {
    const dest = join(root, to);
    if (existsSync(dest)) { print(`kept ${dest} (already there)`); continue; }
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(join(src, from), dest);
    print(`wrote ${dest}`);
  }
  if (root === '/') print('next: systemctl daemon-reload && systemctl enable --now midotrace');
}
