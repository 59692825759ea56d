import { INSTANCE_PATTERN } from '@dlaas/api';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

const Url = Type.String({ pattern: '^https?://[^\\s/]+(/.*)?$' });

/**
 * Token exchange (RFC 8693): the user's token (e.g. one issued to JupyterHub) is traded at the
 * provider for one whose audience Rucio accepts.
 */
const Exchange = Type.Object(
  {
    issuer: Url,
    clientId: Type.String({ minLength: 1 }),
    clientSecret: Type.Optional(Type.String({ minLength: 1 })),
    audience: Type.String({ minLength: 1 }),
    scope: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const UserpassAuth = Type.Object(
  {
    method: Type.Literal('userpass'),
    username: Type.String({ minLength: 1 }),
    password: Type.String({ minLength: 1 }),
    account: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const X509Auth = Type.Object(
  {
    method: Type.Literal('x509'),
    /** PEM file with the certificate (or proxy certificate chain). */
    cert: Type.String({ minLength: 1 }),
    /** PEM file with the key; a proxy certificate file holds both. */
    key: Type.Optional(Type.String({ minLength: 1 })),
    account: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const TokenAuth = Type.Object(
  {
    method: Type.Literal('token'),
    exchange: Type.Optional(Exchange),
    /** File holding an OIDC access token; re-read when it changes. */
    file: Type.Optional(Type.String({ minLength: 1 })),
    /** Environment variable holding an OIDC access token. */
    env: Type.Optional(Type.String({ minLength: 1 })),
    account: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const HubAuth = Type.Object(
  {
    method: Type.Literal('jupyterhub'),
    exchange: Type.Optional(Exchange),
    /** Key of the access token in the user's `auth_state` (OAuthenticator keeps it as `access_token`). */
    tokenKey: Type.Optional(Type.String({ minLength: 1 })),
    account: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const DeviceAuth = Type.Object(
  {
    method: Type.Literal('device'),
    /** The OpenID provider (e.g. INDIGO IAM), as in its tokens' `iss`. */
    issuer: Url,
    clientId: Type.String({ minLength: 1 }),
    clientSecret: Type.Optional(Type.String({ minLength: 1 })),
    /** Scopes asked for (default `openid profile offline_access`). */
    scope: Type.Optional(Type.String({ minLength: 1 })),
    /** Audience the access token is asked for (IAM's `audience` parameter), e.g. `rucio`. */
    audience: Type.Optional(Type.String({ minLength: 1 })),
    /** Where the tokens are kept between restarts (mode 0600); default under ~/.local/share/dlaas. */
    tokenFile: Type.Optional(Type.String({ minLength: 1 })),
    account: Type.Optional(Type.String({ minLength: 1 }))
  },
  { additionalProperties: false }
);

const Auth = Type.Union([UserpassAuth, X509Auth, TokenAuth, HubAuth, DeviceAuth]);

/** PFN prefixes on the scratch RSE and the local directories they are mounted at. */
const Mappings = Type.Array(
  Type.Object(
    { pfnPrefix: Type.String({ minLength: 1 }), localPrefix: Type.String({ minLength: 1 }) },
    { additionalProperties: false }
  ),
  { minItems: 1 }
);

const PrefixPaths = Type.Object(
  { mode: Type.Literal('prefix'), mappings: Mappings },
  { additionalProperties: false }
);

/**
 * The companion mounts the scratch RSE itself (FUSE): a read-only folder whose tree is
 * `<mountPoint>/<scope>/<collection>/.../<file>`, read over HTTP(S) from the storage.
 */
const FusePaths = Type.Object(
  {
    mode: Type.Literal('fuse'),
    /** Where the folder is mounted; default `~/datalake`. */
    mountPoint: Type.Optional(Type.String({ minLength: 1 })),
    /** Prefix mappings used instead when the folder cannot be mounted (no /dev/fuse, say). */
    mappings: Type.Optional(Mappings),
    /** Seconds a storage may stay silent before a read fails with EIO (default 30). */
    readTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 3600 })),
    /**
     * Seconds between readings of the user's rules, which show rules removed elsewhere (default
     * 60); what the companion itself tracks shows at once.
     */
    refreshSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 86400 }))
  },
  { additionalProperties: false }
);

const NoPaths = Type.Object({ mode: Type.Literal('none') }, { additionalProperties: false });

/** `host` or `host:port` (as in a URL). */
const HostName = Type.String({
  pattern: '^[A-Za-z0-9.\\-]+(:[0-9]{1,5})?$|^\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?$'
});

const InstanceConfig = Type.Object(
  {
    name: Type.String({ pattern: INSTANCE_PATTERN }),
    displayName: Type.Optional(Type.String({ minLength: 1 })),
    rucioUrl: Url,
    authUrl: Type.Optional(Url),
    auth: Auth,
    /**
     * `replica` (default): "make available" replicates to `scratchRse`. `download`: the lake has no
     * scratch RSE for this hub, and the user downloads a DID's files into `downloadDir` instead.
     */
    mode: Type.Optional(Type.Union([Type.Literal('replica'), Type.Literal('download')])),
    /** RSE expression of the scratch storage that "make available" replicates to (replica mode). */
    scratchRse: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * Folder that downloads go to, as `<downloadDir>/<scope>/<name>/` (absolute, or starting with
     * `~/`); default `~/datalake-downloads`.
     */
    downloadDir: Type.Optional(Type.String({ minLength: 1 })),
    /** Lifetime of the rules "make available" creates, in seconds. */
    ruleLifetimeSeconds: Type.Optional(Type.Integer({ minimum: 3600, maximum: 365 * 86400 })),
    /**
     * Seconds Rucio may take to start answering a request, and may stay silent in the middle of
     * an answer, before the request fails (default 30).
     */
    requestTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 3600 })),
    /** Requests sent to Rucio at once; more wait their turn (default 8). */
    maxConcurrentRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
    paths: Type.Optional(Type.Union([PrefixPaths, FusePaths, NoPaths])),
    /**
     * Storage hosts (`host` or `host:port`) that may receive the user's bearer token over plain
     * `http://`, e.g. a data lake on loopback; every other host gets it only over https.
     */
    trustedHttpHosts: Type.Optional(Type.Array(HostName)),
    /** PEM bundle of the CAs that sign Rucio's and the storages' certificates. */
    caBundle: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * The lake's rules for scopes and names, as in its Rucio schema (`SCOPE`, `NAME` and their
     * lengths): regular expressions matched against the whole text. Rucio's generic schema by
     * default; communities set their own (CMS block names hold `#`).
     */
    naming: Type.Optional(
      Type.Object(
        {
          scope: Type.Optional(Type.String({ minLength: 1 })),
          name: Type.Optional(Type.String({ minLength: 1 })),
          scopeMaxLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          nameMaxLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 }))
        },
        { additionalProperties: false }
      )
    )
  },
  { additionalProperties: false }
);

/** The companion's configuration file (JSON). */
export const ConfigSchema = Type.Object(
  {
    instances: Type.Array(InstanceConfig),
    defaultInstance: Type.Optional(Type.String())
  },
  { additionalProperties: false }
);

/** One Rucio instance, as configured. */
export type InstanceConfig = Static<typeof InstanceConfig>;
/** The companion's configuration. */
export type Config = Static<typeof ConfigSchema>;
/** How the companion signs in to an instance. */
export type AuthConfig = Static<typeof Auth>;
/** The `fuse` mode of an instance's `paths`. */
export type FusePathsConfig = Static<typeof FusePaths>;

/** A configuration that cannot be used; the message names the key and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Default lifetime of "make available" rules: one week. */
export const DEFAULT_RULE_LIFETIME = 7 * 86400;

/** The empty configuration: the companion runs and the panel explains how to configure it. */
export const EMPTY_CONFIG: Config = { instances: [] };

/**
 * The user's own configuration file, read when `DLAAS_CONFIG` is not set:
 * `$XDG_CONFIG_HOME/dlaas/companion.{json,yaml,yml}` (`~/.config/dlaas/` by default), the first
 * that exists. `devlake up` links `companion.json` there when the user has none, so that a
 * JupyterLab with the wheel finds devlake with no other step. Only `env` is read (no HOME, no
 * default file), so that tests decide.
 */
export function defaultConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  const base = env['XDG_CONFIG_HOME'] || (env['HOME'] ? join(env['HOME'], '.config') : undefined);
  if (!base) {
    return undefined;
  }
  return ['companion.json', 'companion.yaml', 'companion.yml']
    .map(name => join(base, 'dlaas', name))
    .find(path => existsSync(path));
}

/**
 * Loads the configuration from `DLAAS_CONFIG` (a JSON or YAML file), else from the user's own
 * file ({@link defaultConfigFile}), or starts from no instance when there is neither; applies the
 * environment overrides (see {@link applyEnvOverrides}); checks the result. Throws a ConfigError
 * that names the key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env['DLAAS_CONFIG'] || defaultConfigFile(env);
  let raw: unknown = { instances: [] };
  let source = 'the environment';
  if (file !== undefined && file !== '') {
    if (!existsSync(file)) {
      throw new ConfigError(
        `DLAAS_CONFIG names ${file}, which does not exist. Point it at the companion's configuration file (JSON or YAML), or unset it.`
      );
    }
    const text = readFileSync(file, 'utf8');
    try {
      raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
    } catch (error) {
      throw new ConfigError(
        `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'} (${(error as Error).message.split('\n')[0]}). Fix the file and start again.`
      );
    }
    source = file;
  }
  const overridden = applyEnvOverrides(raw, env);
  return checkConfig(
    overridden.value,
    overridden.used.length > 0 ? `${source} with ${overridden.used.join(', ')}` : source
  );
}

/**
 * Environment overrides, for secrets and site settings a deployment injects (e.g. from a
 * Kubernetes secret): `DLAAS_DEFAULT_INSTANCE=name`, and `DLAAS_INSTANCES__<name>__<key>[__<key>...]`
 * for any key of an instance, e.g. `DLAAS_INSTANCES__escape__rucioUrl=https://...` or
 * `DLAAS_INSTANCES__escape__auth__password=...`. An override naming an instance that does not exist
 * creates it. Values that parse as JSON (numbers, objects) are taken as such, others as text.
 */
export function applyEnvOverrides(
  raw: unknown,
  env: NodeJS.ProcessEnv
): { value: unknown; used: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { value: raw, used: [] };
  }
  const config = structuredClone(raw) as Record<string, unknown>;
  const used: string[] = [];
  if (env['DLAAS_DEFAULT_INSTANCE']) {
    config['defaultInstance'] = env['DLAAS_DEFAULT_INSTANCE'];
    used.push('DLAAS_DEFAULT_INSTANCE');
  }
  const prefix = 'DLAAS_INSTANCES__';
  for (const [name, text] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(prefix) || text === undefined) {
      continue;
    }
    const [instanceName, ...path] = name.slice(prefix.length).split('__');
    if (
      !instanceName ||
      path.length === 0 ||
      path.some(p => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')
    ) {
      throw new ConfigError(
        `The variable ${name} does not name an instance and a key: write DLAAS_INSTANCES__<instance>__<key>, e.g. DLAAS_INSTANCES__escape__rucioUrl.`
      );
    }
    if (!Array.isArray(config['instances'])) {
      config['instances'] = [];
    }
    const instances = config['instances'] as Record<string, unknown>[];
    let instance = instances.find(i => i['name'] === instanceName);
    if (!instance) {
      instance = { name: instanceName };
      instances.push(instance);
    }
    let target: Record<string, unknown> = instance;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      target =
        typeof next === 'object' && next !== null
          ? (next as Record<string, unknown>)
          : (target[key] = {});
    }
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // Plain text.
    }
    target[path[path.length - 1] as string] = value;
    used.push(name);
  }
  return { value: config, used };
}

/** Checks a parsed configuration against the schema and its cross-field rules. */
export function checkConfig(raw: unknown, source: string): Config {
  if (!Value.Check(ConfigSchema, raw)) {
    const first = [...Value.Errors(ConfigSchema, raw)].sort(
      (a, b) => b.path.length - a.path.length
    )[0];
    const key = first?.path.replace(/^\//, '').replaceAll('/', '.') || '(top level)';
    throw new ConfigError(
      `In ${source}, the key "${key}" is wrong: ${first?.message ?? 'invalid'}. See the companion's README for the configuration format.`
    );
  }
  const names = raw.instances.map(i => i.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) {
    throw new ConfigError(
      `In ${source}, two instances are named "${duplicate}". Give each instance its own name.`
    );
  }
  if (raw.defaultInstance !== undefined && !names.includes(raw.defaultInstance)) {
    throw new ConfigError(
      `In ${source}, "defaultInstance" is "${raw.defaultInstance}", but no instance has that name (there are: ${names.join(', ') || 'none'}).`
    );
  }
  raw.instances.forEach((instance, index) => {
    if (
      instance.auth.method === 'token' &&
      instance.auth.file === undefined &&
      instance.auth.env === undefined
    ) {
      throw new ConfigError(
        `In ${source}, the key "instances.${index}.auth" of method "token" needs "file" or "env" saying where the token is.`
      );
    }
  });
  raw.instances.forEach((instance, index) => {
    for (const key of ['scope', 'name'] as const) {
      const pattern = instance.naming?.[key];
      try {
        new RegExp(pattern ?? '', 'u');
      } catch (error) {
        throw new ConfigError(
          `In ${source}, the key "instances.${index}.naming.${key}" is not a regular expression (${(error as Error).message}). Copy the pattern from the data lake's Rucio schema.`
        );
      }
    }
  });
  raw.instances.forEach((instance, index) => {
    if (instance.scratchRse === undefined && (instance.mode ?? 'replica') === 'replica') {
      throw new ConfigError(
        `In ${source}, the instance "${instance.name}" has no "scratchRse": name the RSE that "make available" replicates to, or set "mode": "download" (instances.${index}.mode) where the lake has no scratch RSE for you.`
      );
    }
    if (instance.scratchRse === undefined && instance.paths?.mode === 'fuse') {
      throw new ConfigError(
        `In ${source}, the instance "${instance.name}" mounts its scratch RSE ("paths.mode": "fuse") but names none: set "scratchRse", or another "paths.mode".`
      );
    }
    const folder = instance.downloadDir;
    if (folder !== undefined && !isAbsolute(folder) && !folder.startsWith('~/')) {
      throw new ConfigError(
        `In ${source}, the key "instances.${index}.downloadDir" is "${folder}": write an absolute path or one that starts with ~/.`
      );
    }
  });
  const mounts = new Map<string, string>();
  raw.instances.forEach((instance, index) => {
    if (instance.paths?.mode !== 'fuse') {
      return;
    }
    const written = instance.paths.mountPoint;
    if (written !== undefined && !isAbsolute(written) && !written.startsWith('~/')) {
      throw new ConfigError(
        `In ${source}, the key "instances.${index}.paths.mountPoint" is "${written}": write an absolute path or one that starts with ~/.`
      );
    }
    const mountPoint = mountPointOf(instance.paths);
    const other = mounts.get(mountPoint);
    if (other !== undefined) {
      throw new ConfigError(
        `In ${source}, the instances "${other}" and "${instance.name}" both mount their data lake at ${mountPoint}. Give one of them its own "paths.mountPoint".`
      );
    }
    mounts.set(mountPoint, instance.name);
  });
  return raw;
}

/** Where an instance in FUSE mode mounts its folder: `paths.mountPoint` (`~/` is the home), else `~/datalake`. */
export function mountPointOf(paths: FusePathsConfig, home: string = homedir()): string {
  const written = paths.mountPoint ?? '~/datalake';
  return written.startsWith('~/') ? join(home, written.slice(2)) : resolve(written);
}

/** The folder an instance downloads into: `downloadDir` (`~/` is the home), else `~/datalake-downloads`. */
export function downloadRootOf(instance: InstanceConfig, home: string = homedir()): string {
  const written = instance.downloadDir ?? '~/datalake-downloads';
  return written.startsWith('~/') ? join(home, written.slice(2)) : resolve(written);
}

/** The instance requests go to when they name none. */
export function defaultInstanceName(config: Config): string | undefined {
  return config.defaultInstance ?? config.instances[0]?.name;
}
