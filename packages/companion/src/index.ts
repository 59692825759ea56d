export {
  checkConfig,
  ConfigError,
  loadConfig,
  type Config,
  type InstanceConfig
} from './config.js';
export { AppError } from './errors.js';
export { start, createApp, type RunningCompanion, type Listen } from './server.js';
