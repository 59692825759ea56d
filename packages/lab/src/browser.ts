import { existsSync } from 'node:fs';
import { ensureDebianPackages } from './debian.js';

/** Debian's Chromium, which Playwright drives (Playwright's own browser downloads are not used). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags Debian's Chromium needs to run headless here: no sandbox as root, no GPU, and none of the
 * background requests it would otherwise keep sending to a network that is not there.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
];

/** Chromium, and the fonts Galata's settings name so that screenshots look the same everywhere. */
const BROWSER_PACKAGES = ['chromium', 'fonts-dejavu-core'];

/** Installs Debian's Chromium and the DejaVu fonts when they are missing. */
export async function ensureChromium(log: (line: string) => void = () => undefined): Promise<void> {
  if (!existsSync(CHROMIUM_PATH) || !existsSync('/usr/share/fonts/truetype/dejavu')) {
    await ensureDebianPackages(BROWSER_PACKAGES, log);
  }
}
