import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DevlakeError } from './errors.js';
import { run, type ServiceUser } from './processes.js';
import { REPO_ROOT, type Layout } from './settings.js';

/** A program devlake needs from Debian, and the package that provides it. */
interface DebianProgram {
  readonly title: string;
  readonly debianPackage: string;
  /** Finds the program, or returns undefined when it is not installed. */
  readonly locate: () => string | undefined;
}

/** True when devlake runs as root (then it installs packages and runs services as their own users). */
export const IS_ROOT = process.getuid?.() === 0;

function overridable(
  envName: string,
  fallback: () => string | undefined
): () => string | undefined {
  return () => {
    const fromEnv = process.env[envName];
    if (fromEnv !== undefined && fromEnv !== '') {
      return existsSync(fromEnv) ? fromEnv : undefined;
    }
    return fallback();
  };
}

function newestPostgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) {
    return undefined;
  }
  const versions = readdirSync(root)
    .filter(v => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

const POSTGRES: DebianProgram = {
  title: 'PostgreSQL',
  debianPackage: 'postgresql',
  locate: overridable('DEVLAKE_POSTGRES_BINDIR', newestPostgresBinDir)
};

const XROOTD: DebianProgram = {
  title: 'XRootD',
  debianPackage: 'xrootd-server',
  locate: overridable('DEVLAKE_XROOTD', () =>
    existsSync('/usr/bin/xrootd') ? '/usr/bin/xrootd' : undefined
  )
};

const MEMCACHED: DebianProgram = {
  title: 'memcached',
  debianPackage: 'memcached',
  locate: overridable('DEVLAKE_MEMCACHED', () =>
    existsSync('/usr/bin/memcached') ? '/usr/bin/memcached' : undefined
  )
};

/** Where the programs devlake runs were found. */
export interface Programs {
  /** PostgreSQL's bin directory (initdb, postgres, psql). */
  readonly postgresBinDir: string;
  readonly xrootd: string;
  readonly memcached: string;
  /** The venv's bin directory (python, gunicorn, Rucio's daemons). */
  readonly venvBin: string;
}

/**
 * Finds PostgreSQL, XRootD and memcached, installing their Debian packages with apt-get when they are missing
 * and devlake may (it runs as root and DEVLAKE_INSTALL is not "never"); then makes sure the project
 * venv has Rucio. Fails with a sentence naming what is missing and how to get it.
 */
export function ensurePrograms(layout: Layout, log: (line: string) => void): Programs {
  const debian = [POSTGRES, XROOTD, MEMCACHED];
  const missing = debian.filter(p => p.locate() === undefined);
  if (missing.length > 0) {
    installDebianPackages(missing, log);
  }
  return {
    postgresBinDir: located(POSTGRES),
    xrootd: located(XROOTD),
    memcached: located(MEMCACHED),
    venvBin: ensureVenv(layout, log)
  };
}

function located(program: DebianProgram): string {
  const path = program.locate();
  if (path === undefined) {
    throw new DevlakeError(
      `${program.title} is not installed (Debian package ${program.debianPackage}). ` +
        `Install it with "apt-get install ${program.debianPackage}" as root, then run "devlake up" again.`
    );
  }
  return path;
}

function installsAllowed(): boolean {
  return IS_ROOT && process.env['DEVLAKE_INSTALL'] !== 'never';
}

function installDebianPackages(
  programs: readonly DebianProgram[],
  log: (line: string) => void
): void {
  const names = programs.map(p => p.debianPackage);
  if (!installsAllowed()) {
    const list = programs.map(p => `${p.title} (Debian package ${p.debianPackage})`).join(' and ');
    throw new DevlakeError(
      `${list} ${programs.length > 1 ? 'are' : 'is'} not installed. ` +
        `Install ${programs.length > 1 ? 'them' : 'it'} with "sudo apt-get install ${names.join(' ')}" ` +
        `(on Binder: list ${names.join(', ')} in binder/apt.txt), or run devlake as root so that it installs them itself.`
    );
  }
  log(`Installing Debian packages: ${names.join(', ')} ...`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...names], {
      env: { ...process.env, ...env },
      encoding: 'utf8'
    });
  let result = install();
  if (result.status !== 0) {
    run('apt-get', ['update', '-q'], { env, what: 'updating the Debian package lists' });
    result = install();
  }
  if (result.status !== 0) {
    throw new DevlakeError(
      `Installing ${names.join(', ')} with apt-get failed. Install ${names.length > 1 ? 'them' : 'it'} by hand and run "devlake up" again. apt-get said:\n` +
        `${result.stdout}${result.stderr}`.trimEnd().split('\n').slice(-10).join('\n')
    );
  }
}

/**
 * Creates the project venv and installs devlake's Python requirements into it, unless the
 * requirements are unchanged since the last install. Returns the venv's bin directory.
 */
function ensureVenv(layout: Layout, log: (line: string) => void): string {
  const requirements = join(REPO_ROOT, 'packages', 'devlake', 'requirements.txt');
  const bin = join(layout.venvDir, 'bin');
  const stamp = join(layout.venvDir, '.devlake-requirements.sha256');
  const want = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (
    existsSync(join(bin, 'rucio-conveyor-submitter')) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === want
  ) {
    return bin;
  }
  const python = process.env['DEVLAKE_PYTHON'] ?? 'python3';
  if (!existsSync(join(bin, 'python'))) {
    log(`Creating the Python venv ${layout.venvDir} ...`);
    run(python, ['-m', 'venv', layout.venvDir], {
      what: `creating the Python venv ${layout.venvDir} (needs Python 3.10+ with the venv module: "apt-get install python3-venv")`
    });
  }
  log('Installing Rucio and gunicorn from PyPI into the venv (about a minute, once) ...');
  run(
    join(bin, 'python'),
    ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', requirements],
    {
      what: "installing devlake's Python packages (Rucio, gunicorn) from PyPI"
    }
  );
  writeFileSync(stamp, want + '\n');
  return bin;
}

/** The Unix user a service runs as when devlake runs as root; undefined otherwise. */
export function serviceUser(name: string): ServiceUser | undefined {
  if (!IS_ROOT) {
    return undefined;
  }
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new DevlakeError(
      `The system user "${name}" does not exist; its Debian package creates it. ` +
        'Reinstall the package (apt-get install --reinstall) and run "devlake up" again.'
    );
  }
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** True when `user` can enter `dir` (always true when not root). */
export function userCanEnter(user: ServiceUser | undefined, dir: string): boolean {
  if (!user) {
    return true;
  }
  const result = spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid });
  return result.status === 0;
}
