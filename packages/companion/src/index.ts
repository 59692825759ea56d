export {
  checkConfig,
  ConfigError,
  loadConfig,
  type Config,
  type InstanceConfig
} from './config.js';
export { AppError } from './errors.js';
export { mountObstacle } from './fuse/mount.js';
export { start, createApp, type RunningCompanion, type Listen } from './server.js';
