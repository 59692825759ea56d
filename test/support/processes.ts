import { join } from 'node:path';

/** The repository root. */
export const REPO = join(import.meta.dirname, '..', '..');

// The launcher of packages/lab runs and stops the same processes as the tests.
export {
  ensureVenv,
  freePort,
  groupAlive,
  run,
  signalGroup,
  type Finished
} from '../../packages/lab/src/processes.js';
