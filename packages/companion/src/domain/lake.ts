import type { AuthStatus, DeviceSignIn, Instance } from '@dlaas/api';
import { DeviceCredentials } from '../auth/device.js';
import { credentialsFor } from '../auth/credentials.js';
import { defaultInstanceName, type Config, type InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { RucioClient } from '../rucio/client.js';
import { Availabilities, type AvailabilityOptions } from './availability.js';
import { Browser } from './browse.js';

/** Everything the companion does for its user on one Rucio instance. */
export interface InstanceServices {
  readonly config: InstanceConfig;
  readonly rucio: RucioClient;
  readonly browser: Browser;
  readonly availabilities: Availabilities;
}

/** The configured instances and their services, created on first use. */
export class Lake {
  private readonly services = new Map<string, InstanceServices>();

  constructor(
    readonly config: Config,
    private readonly options: AvailabilityOptions = {}
  ) {}

  /** The instances as the panel sees them. */
  instances(): Instance[] {
    const byDefault = defaultInstanceName(this.config);
    return this.config.instances.map(i => ({
      name: i.name,
      displayName: i.displayName ?? i.name,
      authMethod: i.auth.method,
      scratchRse: i.scratchRse,
      isDefault: i.name === byDefault
    }));
  }

  /** The services of an instance; a 404 with the configured names when there is no such instance. */
  instance(name: string): InstanceServices {
    const existing = this.services.get(name);
    if (existing) {
      return existing;
    }
    const config = this.config.instances.find(i => i.name === name);
    if (!config) {
      const names = this.config.instances.map(i => i.name);
      throw new AppError(
        404,
        'not_found',
        names.length === 0
          ? "No data lake is configured. Set DLAAS_CONFIG to the companion's configuration file, or put it at ~/.config/dlaas/companion.json (see the dlaas README), and restart JupyterLab."
          : `There is no data lake instance named "${name.slice(0, 64)}". The configured ones are: ${names.join(', ')}.`
      );
    }
    const rucio = new RucioClient(config, credentialsFor(config));
    const services = {
      config,
      rucio,
      browser: new Browser(rucio),
      availabilities: new Availabilities(rucio, this.options)
    };
    this.services.set(name, services);
    return services;
  }

  /** Whether the companion can act for the user on an instance, and as which account. */
  async authStatus(name: string): Promise<AuthStatus> {
    const { config, rucio } = this.instance(name);
    try {
      const account = await rucio.whoami();
      return { instance: name, method: config.auth.method, signedIn: true, account };
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_signed_in') {
        const status: AuthStatus = {
          instance: name,
          method: config.auth.method,
          signedIn: false,
          account: null,
          message: error.message
        };
        const pending =
          rucio.credentials instanceof DeviceCredentials ? rucio.credentials.pendingSignIn() : null;
        if (pending) {
          status.deviceSignIn = pending;
        }
        return status;
      }
      throw error;
    }
  }

  /** Starts a device sign-in for an instance that signs in that way. */
  startDeviceSignIn(name: string): Promise<DeviceSignIn> {
    const { rucio, config } = this.instance(name);
    if (!(rucio.credentials instanceof DeviceCredentials)) {
      throw new AppError(
        400,
        'bad_request',
        `${config.displayName ?? name} signs you in with ${config.auth.method}, not with a device code; there is nothing to start.`
      );
    }
    return rucio.credentials.startSignIn();
  }

  /** Forgets the user's sign-in to an instance (device flow) and what depends on it. */
  signOut(name: string): void {
    const { rucio } = this.instance(name);
    if (rucio.credentials instanceof DeviceCredentials) {
      rucio.credentials.signOut();
    }
    rucio.forgetAccount();
  }

  /** Stops trackers and closes streams. */
  dispose(): void {
    for (const services of this.services.values()) {
      services.browser.dispose();
      services.availabilities.dispose();
    }
    this.services.clear();
  }
}
