import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_TOKEN, type LabInfo } from './tests/lab';

/**
 * Starts the UI tests' own JupyterLab (its own workspace and Jupyter directories next to
 * devlake's state, on a free port, with the R kernel) and passes its address to the tests.
 * Returns the teardown that stops it; devlake keeps running, as after `npm test`.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(import.meta.dirname, '..', 'packages', 'lab', 'lib', 'index.js'))) {
    throw new Error('packages/lab is not built: run "npm run build" first.');
  }
  const lab = await import('../packages/lab/lib/index.js');
  await lab.ensureChromium(line => console.log(line));
  const started = Date.now();
  const running = await lab.startLab({
    name: 'ui-tests',
    port: 0,
    token: LAB_TOKEN,
    withR: true,
    galata: true,
    log: line => console.log(`[lab] ${line}`)
  });
  console.log(
    `[lab] JupyterLab with dlaas for the UI tests: ${running.labUrl} (ready in ${Math.round((Date.now() - started) / 1000)} s)`
  );
  // The OpenID session has expired and its refresh token is refused, as after a revocation or
  // a long weekend: the companion (started on the first request) cannot renew it.
  const tokens = join(running.jupyterDir, 'tokens');
  rmSync(tokens, { recursive: true, force: true });
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(tokens, 'devlake-oidc.json'),
    JSON.stringify({ accessToken: 'expired', refreshToken: 'revoked', expiresAt: 0 }),
    { mode: 0o600 }
  );
  const info: LabInfo = {
    url: running.url,
    devlake: running.devlake,
    workspace: running.workspace,
    datalake: running.datalake,
    venv: running.venv,
    env: running.env,
    companionConfig: running.companionConfig,
    logFile: running.logFile,
    hasLabextension: running.hasLabextension
  };
  // Galata appends /lab to it.
  process.env['DLAAS_UI_URL'] = running.url.replace(/\/$/, '');
  process.env['DLAAS_UI_LAB'] = JSON.stringify(info);
  return () => running.stop();
}
