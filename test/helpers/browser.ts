// Debian's chromium, driven headless by playwright-core, with a fresh empty profile per launch. No
// browser is ever downloaded: when /usr/bin/chromium is missing or will not start, the caller is told
// why, and decides (skip locally, fail in CI).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export type BrowserLaunch =
  | { ok: true; context: BrowserContext; close(): Promise<void> }
  | { ok: false; reason: string };

export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<BrowserLaunch> {
  if (!existsSync(CHROMIUM_PATH)) {
    return { ok: false, reason: `${CHROMIUM_PATH} not found (apt-get install chromium; scripts/ensure-deps.sh does it in CI)` };
  }
  const profile = mkdtempSync(join(tmpdir(), 'midotrace-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH, args: ARGS, headless: true, viewport, timeout: 30_000,
    });
    return {
      ok: true, context,
      close: async () => {
        await context.close().catch(() => {});
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    return { ok: false, reason: `chromium did not start: ${String(err).split('\n')[0]}` };
  }
}
