import { parseArgs } from 'node:util';
import { startOidcProvider } from './provider.js';

/**
 * devlake's OpenID provider as a service: `node main.js --port N --key-file F`. The signing key is
 * kept in a file because Rucio caches an issuer's keys for 12 hours.
 */
const { values } = parseArgs({
  options: { port: { type: 'string' }, 'key-file': { type: 'string' } }
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || !values['key-file']) {
  console.error('devlake OpenID provider: give --port N and --key-file FILE.');
  process.exit(2);
}
// `rucio` first (the default audience); `jupyterhub` for hub-style tokens that are exchanged.
const idp = await startOidcProvider({
  port,
  signingKeyFile: values['key-file'],
  audiences: ['rucio', 'jupyterhub']
});
console.log(`devlake OpenID provider: issuer ${idp.issuer}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void idp.stop().then(() => process.exit(0));
  });
}
