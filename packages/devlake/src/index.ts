export { Adler32, adler32 } from './adler32.js';
export { DevlakeError } from './errors.js';
export { hashedPath, NAME_PATTERN, SCOPE_PATTERN } from './lfn.js';
export { down, reset, seed, status, up, type DevlakeStatus } from './lake.js';
export { RucioError, RucioRest, parseRucioJson, segment } from './rest.js';
export { ACCOUNTS, RSES, SCRATCH_RSE, resolveLayout } from './settings.js';
