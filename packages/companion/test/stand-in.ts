import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';

/**
 * The instance and credentials of tests that stub Rucio's transport (`fetch`): alice on a lake
 * whose URL never resolves, so nothing reaches a real server by mistake.
 */
export const instance: InstanceConfig = {
  name: 'lake',
  rucioUrl: 'http://rucio.invalid',
  auth: { method: 'userpass', username: 'u', password: 'p', account: 'alice' },
  scratchRse: 'SCRATCH'
};

export const credentials: CredentialSource = {
  method: 'userpass',
  configuredAccount: 'alice',
  token: async () => ({ value: 't', expiresAt: Date.now() + 3600_000, account: 'alice' })
};
