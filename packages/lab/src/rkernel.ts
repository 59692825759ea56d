import { join } from 'node:path';
import { ensureDebianPackages } from './debian.js';
import { LabError, tail } from './errors.js';
import { run } from './processes.js';

/** Debian's R and its Jupyter kernel; r-cran-irkernel registers it in /usr/share/jupyter/kernels/ir. */
export const R_PACKAGES: readonly string[] = ['r-base-core', 'r-cran-irkernel'];

/** The kernelspecs the venv's Jupyter sees, by name. */
export async function kernelspecs(venv: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const listed = await run(join(venv, 'bin', 'jupyter'), ['kernelspec', 'list', '--json'], { env });
  return Object.keys((JSON.parse(listed.stdout) as { kernelspecs: object }).kernelspecs);
}

/**
 * Makes an R kernel (`ir`) available to the venv's Jupyter: installs Debian's R and IRkernel when
 * missing; registers IRkernel into the venv only if Debian's kernelspec is not visible (it is
 * for a Jupyter that searches /usr/share/jupyter, as a venv's does).
 */
export async function ensureRKernel(
  venv: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void = () => undefined
): Promise<void> {
  await ensureDebianPackages(R_PACKAGES, log);
  if ((await kernelspecs(venv, env)).includes('ir')) {
    return;
  }
  log('Registering the R kernel (IRkernel) with the JupyterLab venv ...');
  try {
    await run('R', ['--slave', '-e', `IRkernel::installspec(prefix = ${JSON.stringify(venv)})`], {
      // installspec runs `jupyter kernelspec install`: the venv's.
      env: { ...env, PATH: `${join(venv, 'bin')}:${env['PATH'] ?? ''}` }
    });
  } catch (error) {
    throw new LabError(
      'Registering IRkernel with the JupyterLab venv failed; run "R -e \'IRkernel::installspec()\'" by hand, or start without --with-r.',
      tail((error as Error).message)
    );
  }
}
