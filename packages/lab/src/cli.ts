#!/usr/bin/env node
import { DevlakeError, RucioError } from '@dlaas/devlake';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { LabError } from './errors.js';
import { DEFAULT_PORT, startLab, type RunningLab } from './lab.js';

const USAGE = `dlaas-lab: JupyterLab with the dlaas wheel, against devlake.

Usage: node packages/lab/lib/cli.js [options]

Brings devlake up, installs the wheel of "npm run build:python" into .venv-lab, and runs
JupyterLab in the foreground on a workspace whose folder "datalake" holds the files that
"Make available" brings to devlake's scratch storage: the companion's read-only FUSE mount
(<scope>/<dataset>/<files>) where the machine has FUSE, else a link to the storage (Rucio's
hashed layout). Ctrl-C stops JupyterLab (devlake keeps
running; "npm run devlake -- down" stops it).

Options:
  --port N         port for JupyterLab (default ${DEFAULT_PORT}, or the next free one)
  --token T        Jupyter's token (default: random)
  --workspace DIR  Jupyter's root directory (default: <state>/workspace)
  --with-r         install Debian's R and IRkernel when missing, for R notebooks (as root);
                   without it, R notebooks work only where they are installed already
  --state-dir DIR  devlake's state directory (default .devlake; env DEVLAKE_STATE_DIR)
  --base-port N    devlake's base port (default 18400; env DEVLAKE_BASE_PORT)
`;

function print(line: string): void {
  process.stdout.write(line + '\n');
}

/** A whole number within `min`..`max`, or a LabError naming the option. */
function wholeNumber(raw: string | undefined, option: string, min: number): number | undefined {
  if (raw === undefined) {
    return undefined;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw new LabError(`${option} must be a port number from ${min} to 65535; got "${raw}".`);
  }
  return value;
}

/** Runs JupyterLab until Ctrl-C or SIGTERM; resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      token: { type: 'string' },
      workspace: { type: 'string' },
      'with-r': { type: 'boolean' },
      'state-dir': { type: 'string' },
      'base-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  });
  if (values.help) {
    print(USAGE);
    return 0;
  }
  if (values.token !== undefined && !/^[A-Za-z0-9_-]+$/.test(values.token)) {
    throw new LabError('--token may hold only letters, digits, "-" and "_".');
  }
  const lab = await startLab({
    port: wholeNumber(values.port, '--port', 1),
    basePort: wholeNumber(values['base-port'], '--base-port', 1024),
    stateDir: values['state-dir'],
    workspace: values.workspace,
    token: values.token,
    withR: values['with-r'],
    log: print
  });
  announce(lab);
  return waitForStop(lab);
}

function announce(lab: RunningLab): void {
  const here = (path: string): string =>
    path.startsWith(process.cwd() + '/') ? relative(process.cwd(), path) : path;
  print('');
  print(`JupyterLab with dlaas: ${lab.labUrl}`);
  print(
    `  workspace ${here(lab.workspace)} (its folder datalake/ is ${lab.datalake.mode === 'fuse' ? "the companion's mount of devlake's scratch storage" : "a link to devlake's scratch storage"})`
  );
  print(`  JupyterLab's log ${here(lab.logFile)}`);
  if (!lab.hasLabextension) {
    print(
      '  The wheel has no JupyterLab extension yet, so there is no Data Lake panel; the companion answers at ' +
        `${lab.url}dlaas/health.`
    );
  }
  print('Press Ctrl-C to stop JupyterLab (devlake keeps running).');
}

/** Waits for Ctrl-C or SIGTERM (then stops JupyterLab) or for JupyterLab to stop by itself. */
async function waitForStop(lab: RunningLab): Promise<number> {
  const signalled = new Promise<NodeJS.Signals>(resolve => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => resolve(signal));
    }
  });
  const outcome = await Promise.race([signalled, lab.exited.then(() => 'exited' as const)]);
  if (outcome === 'exited') {
    process.stderr.write(`dlaas-lab: JupyterLab stopped by itself; see its log ${lab.logFile}.\n`);
    await lab.stop();
    return 1;
  }
  print('Stopping JupyterLab ...');
  await lab.stop();
  print('JupyterLab stopped.');
  return 0;
}

main(process.argv.slice(2)).then(
  code => {
    process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof LabError) {
      process.stderr.write(`dlaas-lab: ${error.message}\n`);
      if (error.detail) {
        process.stderr.write(`${error.detail}\n`);
      }
    } else if (error instanceof DevlakeError || error instanceof RucioError) {
      process.stderr.write(`dlaas-lab: devlake: ${error.message}\n`);
    } else if (
      error instanceof Error &&
      'code' in error &&
      String(error.code).startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`dlaas-lab: ${error.message}. Run with --help to see the options.\n`);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(
        `dlaas-lab: unexpected failure: ${message}\nPlease report it with the command you ran.\n`
      );
    }
    process.exit(1);
  }
);
