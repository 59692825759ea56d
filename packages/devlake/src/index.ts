export { Adler32, adler32 } from './adler32.js';
export { DevlakeError } from './errors.js';
export { hashedPath, NAME_PATTERN, SCOPE_PATTERN } from './lfn.js';
export {
  LARGE_FILES_DATASET,
  largeFileBytes,
  largeFileChunks,
  largeFilesDataset
} from './catalogue.js';
export { LARGE_FILES, down, reset, seed, stage, status, up, type DevlakeStatus } from './lake.js';
export { RucioError, RucioRest, didPath, parseRucioJson, segment } from './rest.js';
export { rootClient, seedLargeFiles, storagePath, type LargeFilesOptions } from './seed.js';
export { ACCOUNTS, RSES, SCRATCH_RSE, resolveLayout, type Layout } from './settings.js';
export { stageOnScratch, type DidRef, type StagedOnScratch } from './stage.js';
