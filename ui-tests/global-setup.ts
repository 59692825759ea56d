import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '@dlaas/companion';
import { FaultControl } from '../test/support/fault-control';
import { FaultProxy } from '../test/support/fault-proxy';
import { LAB_TOKEN, RUCIO_CONTROL_ENV, type LabInfo } from './tests/lab';

/** The instance whose Rucio the fault proxy stands in front of: the panel's default. */
const PROXIED_INSTANCE = 'devlake';

/**
 * Starts the UI tests' own JupyterLab (its own workspace and Jupyter directories next to
 * devlake's state, on a free port, with the R kernel) and passes its address to the tests. Its
 * companion reaches devlake's Rucio (for the instance `devlake`; sign-in goes to Rucio directly)
 * through a fault proxy, which a test stops and starts through the control endpoint whose address
 * is in `DLAAS_UI_RUCIO_CONTROL`: Rucio down for that companion only. Returns the teardown that
 * stops them; devlake keeps running, as after `npm test`.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(import.meta.dirname, '..', 'packages', 'lab', 'lib', 'index.js'))) {
    throw new Error('packages/lab is not built: run "npm run build" first.');
  }
  const lab = await import('../packages/lab/lib/index.js');
  await lab.ensureChromium(line => console.log(line));
  const started = Date.now();
  let fault: RucioFault | undefined;
  const running = await lab
    .startLab({
      name: 'ui-tests',
      port: 0,
      token: LAB_TOKEN,
      withR: true,
      galata: true,
      log: line => console.log(`[lab] ${line}`),
      rewriteCompanionConfig: async config => {
        fault = await startRucioFault(config);
        return fault.config;
      }
    })
    .catch(async (error: unknown) => {
      await fault?.stop();
      throw error;
    });
  const rucio = fault;
  if (!rucio) {
    throw new Error('startLab did not let the UI tests put a fault proxy in front of Rucio.');
  }
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
  process.env[RUCIO_CONTROL_ENV] = rucio.control.url;
  return async () => {
    await running.stop();
    await rucio.stop();
  };
}

/** A fault proxy in front of one instance's Rucio, its control endpoint, and the configuration. */
interface RucioFault {
  /** The companion configuration, with the instance's Rucio behind the proxy. */
  readonly config: Config;
  readonly control: FaultControl;
  /** Closes the control endpoint and stops the proxy. */
  stop(): Promise<void>;
}

/**
 * Starts a fault proxy in front of the Rucio of {@link PROXIED_INSTANCE} and its control
 * endpoint, and returns `config` with that instance's `rucioUrl` the proxy's; its `authUrl` stays
 * Rucio's own, so that signing in is not part of an outage.
 */
async function startRucioFault(config: Config): Promise<RucioFault> {
  const proxied = config.instances.find(i => i.name === PROXIED_INSTANCE);
  if (!proxied) {
    throw new Error(`devlake's companion configuration has no instance "${PROXIED_INSTANCE}".`);
  }
  const proxy = new FaultProxy(proxied.rucioUrl);
  await proxy.start();
  const control = await FaultControl.start(proxy);
  return {
    config: {
      ...config,
      instances: config.instances.map(instance =>
        instance === proxied
          ? { ...instance, rucioUrl: proxy.url, authUrl: instance.authUrl ?? instance.rucioUrl }
          : instance
      )
    },
    control,
    stop: async () => {
      await control.close();
      await proxy.stop();
    }
  };
}
