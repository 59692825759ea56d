import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { LabError, tail } from './errors.js';
import { ensureVenv, REPO_ROOT, run } from './processes.js';

/**
 * The JupyterLab venv, kept between runs (env `DLAAS_LAB_VENV` moves it). The integration tests
 * and the UI tests share it.
 */
export const LAB_VENV = resolve(process.env['DLAAS_LAB_VENV'] || join(REPO_ROOT, '.venv-lab'));

/**
 * What the JupyterLab venv holds; a change here reinstalls it. JupyterLab is the minor release
 * the extension is built against (scripts/build-python.sh builds with the same).
 */
export const LAB_REQUIREMENTS: readonly string[] = [
  'jupyterlab>=4.6,<4.7',
  'jupyter-server-proxy>=4.4',
  'ipykernel'
];

/** Where the wheel puts the prebuilt JupyterLab extension inside a venv. */
export const LABEXTENSION_DIR = join(
  'share',
  'jupyter',
  'labextensions',
  '@dlaas',
  'jupyterlab-extension'
);

/** Creates the JupyterLab venv, or installs into it, only when its requirements changed. */
export async function ensureLabVenv(
  log: (line: string) => void = () => undefined
): Promise<string> {
  try {
    return await ensureVenv(LAB_VENV, LAB_REQUIREMENTS, () =>
      log(`Installing JupyterLab into ${shown(LAB_VENV)} (a minute or two, once) ...`)
    );
  } catch (error) {
    throw new LabError(
      `Installing ${LAB_REQUIREMENTS.join(', ')} into ${LAB_VENV} failed; check that python3 (3.10+, with venv) and PyPI are reachable, or delete ${LAB_VENV} and try again.`,
      tail((error as Error).message)
    );
  }
}

/** The wheel of the last `npm run build:python`. */
export function builtWheel(): string {
  const dist = join(REPO_ROOT, 'dist');
  const wheels = existsSync(dist)
    ? readdirSync(dist)
        .filter(name => /^dlaas-.+\.whl$/.test(name))
        .map(name => join(dist, name))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    : [];
  const wheel = wheels[0];
  if (wheel === undefined) {
    throw new LabError('dist/ has no dlaas wheel: run "npm run build:python" first.');
  }
  return wheel;
}

/**
 * Installs `wheel` into the venv unless the same wheel (by its SHA-256, kept in a stamp file) is
 * installed already. Returns whether it installed.
 */
export async function installWheel(
  wheel: string,
  venv: string = LAB_VENV,
  log: (line: string) => void = () => undefined
): Promise<boolean> {
  const stamp = join(venv, '.dlaas-wheel.sha256');
  const hash = createHash('sha256').update(readFileSync(wheel)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash && dlaasInstalled(venv)) {
    return false;
  }
  log(`Installing ${shown(wheel)} into the JupyterLab venv ...`);
  try {
    await run(join(venv, 'bin', 'python'), [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--force-reinstall',
      '--no-deps',
      wheel
    ]);
  } catch (error) {
    throw new LabError(
      `pip could not install ${wheel} into ${venv}; rebuild it with "npm run build:python" and try again.`,
      tail((error as Error).message)
    );
  }
  writeFileSync(stamp, `${hash}\n`);
  return true;
}

/** A path relative to the repository when it lies inside it, else as it is. */
function shown(path: string): string {
  const inside = relative(REPO_ROOT, path);
  return inside.startsWith('..') ? path : inside;
}

/** Whether the venv holds the prebuilt dlaas JupyterLab extension (the wheel ships it). */
export function hasLabextension(venv: string = LAB_VENV): boolean {
  return existsSync(join(venv, LABEXTENSION_DIR, 'package.json'));
}

/** Where `file` (a path inside site-packages) is in the venv, if it is there. */
export function sitePackagesPath(venv: string, file: string): string | undefined {
  const lib = join(venv, 'lib');
  if (!existsSync(lib)) {
    return undefined;
  }
  return readdirSync(lib)
    .map(python => join(lib, python, 'site-packages', file))
    .find(path => existsSync(path));
}

/** Whether the `dlaas` Python package is in the venv's site-packages. */
function dlaasInstalled(venv: string): boolean {
  return sitePackagesPath(venv, join('dlaas', '__init__.py')) !== undefined;
}
