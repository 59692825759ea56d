import { join } from 'node:path';
import { LabError, tail } from './errors.js';
import { REPO_ROOT, run } from './processes.js';

/** The script that installs the missing ones of some Debian packages (and nothing else). */
const ENSURE_DEBIAN = join(REPO_ROOT, 'scripts', 'ensure-debian.sh');

/** Installs those of `packages` that are not installed, with scripts/ensure-debian.sh. */
export async function ensureDebianPackages(
  packages: readonly string[],
  log: (line: string) => void = () => undefined
): Promise<void> {
  const result = await run('sh', [ENSURE_DEBIAN, ...packages], { allowFailure: true });
  for (const line of result.stdout.split('\n').filter(l => l !== '')) {
    log(line);
  }
  if (result.code !== 0) {
    const said = result.stderr.trimEnd().split('\n');
    throw new LabError(
      said.at(-1)?.replace(/^dlaas: /, '') ??
        `Installing the Debian packages ${packages.join(' ')} failed; install them by hand.`,
      tail(said.slice(0, -1).join('\n'))
    );
  }
}
