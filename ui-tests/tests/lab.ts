import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { RunningLab } from '../../packages/lab/lib/index.js';

/** The Jupyter token of the UI tests' JupyterLab (it listens on loopback only). */
export const LAB_TOKEN = 'dlaas-ui-tests';

/**
 * The variable in which global-setup.ts passes the address of the control endpoint of the fault
 * proxy between the lab's companion and devlake's Rucio (see test/support/fault-control.ts).
 */
export const RUCIO_CONTROL_ENV = 'DLAAS_UI_RUCIO_CONTROL';

/** The address of the control endpoint that stops and starts Rucio for the lab's companion. */
export function rucioControl(): string {
  const url = process.env[RUCIO_CONTROL_ENV];
  if (url === undefined) {
    throw new Error(`${RUCIO_CONTROL_ENV} is not set: run the UI tests with "npm run test:ui".`);
  }
  return url;
}

/** What global-setup.ts tells the tests about the JupyterLab it started. */
export type LabInfo = Pick<
  RunningLab,
  | 'url'
  | 'devlake'
  | 'workspace'
  | 'datalake'
  | 'venv'
  | 'env'
  | 'companionConfig'
  | 'logFile'
  | 'hasLabextension'
>;

/** The JupyterLab of this run. */
export function labInfo(): LabInfo {
  const raw = process.env['DLAAS_UI_LAB'];
  if (raw === undefined) {
    throw new Error('DLAAS_UI_LAB is not set: run the UI tests with "npm run test:ui".');
  }
  return JSON.parse(raw) as LabInfo;
}

/** Runs `jupyter <args>` from the lab's venv with the lab's environment; returns its output. */
export function jupyter(args: string[]): string {
  const lab = labInfo();
  const result = spawnSync(join(lab.venv, 'bin', 'jupyter'), args, {
    env: { ...process.env, ...lab.env },
    encoding: 'utf8'
  });
  if (result.status !== 0) {
    throw new Error(`jupyter ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  }
  return stripVTControlCharacters(result.stdout + result.stderr);
}
