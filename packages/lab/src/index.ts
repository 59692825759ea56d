export { LabError } from './errors.js';
export { DEFAULT_PORT, startLab, type LabOptions, type RunningLab } from './lab.js';
export type { DatalakeFolder } from './workspace.js';
export { CHROMIUM_ARGS, CHROMIUM_PATH, ensureChromium } from './browser.js';
export { ensureDebianPackages } from './debian.js';
export { kernelspecs } from './rkernel.js';
export {
  ensureVenv,
  freePort,
  groupAlive,
  portIsFree,
  REPO_ROOT,
  run,
  signalGroup,
  type Finished
} from './processes.js';
export { builtWheel, ensureLabVenv, installWheel, LAB_REQUIREMENTS, LAB_VENV } from './venv.js';
