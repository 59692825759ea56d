import type { AuthStatus, DeviceSignIn, Instance } from '@dlaas/api';
import { DeviceCredentials } from '../auth/device.js';
import { credentialsFor } from '../auth/credentials.js';
import { defaultInstanceName, mountPointOf, type Config, type InstanceConfig } from '../config.js';
import { Naming } from '../did.js';
import { AppError } from '../errors.js';
import { ScratchMount } from '../fuse/mount.js';
import { RucioClient } from '../rucio/client.js';
import { Availabilities, type AvailabilityOptions } from './availability.js';
import { Browser } from './browse.js';
import { PathResolver } from './paths.js';
import { DownloadJobs } from './downloads.js';
import { defaultUploadsFolder } from './upload-journal.js';
import { Uploads } from './uploads.js';

/** How long a storage may send nothing before a read of the mount fails, unless configured. */
const DEFAULT_READ_TIMEOUT_SECONDS = 30;

/** Everything the companion does for its user on one Rucio instance. */
export interface InstanceServices {
  readonly config: InstanceConfig;
  readonly rucio: RucioClient;
  readonly browser: Browser;
  readonly availabilities: Availabilities;
  /** The instance's rules for scopes and names. */
  readonly naming: Naming;
  /** The instance's folder, in `fuse` mode. */
  readonly mount: ScratchMount | null;
  /** Download mode: the user's download jobs on this instance. */
  readonly downloads: DownloadJobs;
  /** Upload ("store back"): the user's upload jobs on this instance. */
  readonly uploads: Uploads;
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
    return this.config.instances.map(i => {
      const paths: NonNullable<Instance['paths']> = { mode: i.paths?.mode ?? 'none' };
      const mount = this.services.get(i.name)?.mount;
      if (mount) {
        paths.mountPoint = mount.mountPoint;
        if (mount.problem !== null) {
          paths.problem = mount.problem;
        }
      }
      return {
        name: i.name,
        displayName: i.displayName ?? i.name,
        authMethod: i.auth.method,
        scratchRse: i.scratchRse ?? '',
        ...(i.mode === 'download' ? { mode: 'download' as const } : {}),
        isDefault: i.name === byDefault,
        paths
      };
    });
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
    const mount =
      config.paths?.mode === 'fuse'
        ? new ScratchMount(
            rucio,
            {
              mountPoint: mountPointOf(config.paths),
              readTimeoutMs:
                (config.paths.readTimeoutSeconds ?? DEFAULT_READ_TIMEOUT_SECONDS) * 1000,
              refreshIntervalMs: (config.paths.refreshSeconds ?? 60) * 1000
            },
            new PathResolver(config.paths)
          )
        : null;
    const availabilities = new Availabilities(rucio, this.options, mount ?? undefined);
    // What the tracker sees change (a rule turning OK, files arriving) changes the folder.
    availabilities.on('availability', () => void mount?.refresh());
    const naming = new Naming(config.naming);
    const services = {
      config,
      rucio,
      browser: new Browser(rucio),
      availabilities,
      naming,
      mount,
      downloads: new DownloadJobs(rucio),
      uploads: new Uploads(rucio, naming, { folder: defaultUploadsFolder(config.name) })
    };
    this.services.set(name, services);
    return services;
  }

  /**
   * Mounts the folder of every instance in `fuse` mode (when the companion starts, so that the
   * files are there before the panel is ever opened). Resolves once each is mounted or has said
   * why it cannot be; what is in them is read from Rucio afterwards.
   */
  async startMounts(): Promise<void> {
    for (const instance of this.config.instances) {
      if (instance.paths?.mode === 'fuse') {
        await this.instance(instance.name).mount?.start();
      }
    }
  }

  /** Whether the companion can act for the user on an instance, and as which account. */
  async authStatus(name: string): Promise<AuthStatus> {
    const { config, rucio } = this.instance(name);
    try {
      // The credential first: the account is remembered, a sign-in that has lapsed (a hub that
      // no longer hands out the token, say) is not.
      await rucio.credentials.token();
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

  /** Stops trackers, closes streams and unmounts folders. */
  async close(): Promise<void> {
    const mounts = [...this.services.values()].flatMap(s => (s.mount ? [s.mount] : []));
    // Downloads under way stop as interrupted, journaled, so that a retry resumes them.
    const downloads = [...this.services.values()].map(s => s.downloads.dispose());
    // Uploads too: a retry after the next start finishes them.
    const uploads = [...this.services.values()].map(s => s.uploads.dispose());
    for (const services of this.services.values()) {
      services.browser.dispose();
      services.availabilities.dispose();
    }
    this.services.clear();
    await Promise.all([...mounts.map(m => m.stop()), ...downloads, ...uploads]);
  }

  /** Unmounts every folder at once (when the process exits without {@link close}). */
  unmountNow(): void {
    for (const services of this.services.values()) {
      services.mount?.stopNow();
    }
  }
}
