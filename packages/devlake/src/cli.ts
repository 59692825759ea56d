#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DevlakeError } from './errors.js';
import { RucioError } from './rest.js';
import { down, reset, seed, stage, status, up, type DevlakeStatus } from './lake.js';
import { basePortOption, profileOption } from './settings.js';

const USAGE = `devlake: a real Rucio data lake on this machine.

Usage: devlake <command> [options]

Commands:
  up              start everything that is not running (installs what is missing; seeds demo data once)
  down            stop every process devlake started
  status [--json] show endpoints, RSEs, accounts and which processes run
  seed [--files N] [--large]
                  seed the demo data again, or add the benchmark dataset bench:files_N
                  (N files of 64 bytes) or bench:large_files (4 files of 1 GiB)
  stage --did SCOPE:NAME [--account ACCOUNT]
                  make a DID available on the scratch RSE for the account (default alice) without
                  transfers: files hard-linked from the site disk, replicas registered, rule OK
  reset           stop, delete all state and data (not the Python venv), and bring up a clean lake

Options:
  --state-dir DIR  where devlake keeps its state (default: .devlake in the repository; env DEVLAKE_STATE_DIR)
  --base-port N    devlake listens on N+1 ... N+20 (default 18400; env DEVLAKE_BASE_PORT)
  --no-seed        with up or reset: register RSEs and accounts but no demo data
  --profile NAME   with up or reset: "full" (default) or "small", which fits Binder's memory: one
                   Rucio server worker, Rucio's daemons in one process, no memcached, OpenID
                   provider or X.509 sign-in (env DEVLAKE_PROFILE; kept for later commands)
  --json           with status: print JSON for programs
`;

// A reader that goes away early (`devlake status | head`) is not an error of devlake's.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') {
    throw error;
  }
});

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function describe(s: DevlakeStatus): string {
  const lines = [
    `devlake ${s.running ? 'is running' : 'is not (fully) running'}; state in ${s.stateDir}${s.profile === 'small' ? ' (small profile)' : ''}`,
    `  Rucio            ${s.rucio.url}`,
    `  transfer service ${s.transferService.url}`,
    `  PostgreSQL       ${s.postgres.host}:${s.postgres.port}/${s.postgres.database}`,
    ...s.rses.map(r => `  ${r.name.padEnd(16)} ${r.url}${r.prefix} (${r.role})`),
    `  accounts         ${s.accounts.map(a => `${a.account} (userpass ${a.username} / ${a.password})`).join(', ')}`,
    '  processes:',
    ...s.services.map(
      p => `    ${p.running ? 'up  ' : 'down'} ${p.name}${p.pid ? ` (pid ${p.pid})` : ''}`
    ),
    `  logs in ${s.logs}`
  ];
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      'base-port': { type: 'string' },
      profile: { type: 'string' },
      'no-seed': { type: 'boolean' },
      json: { type: 'boolean' },
      files: { type: 'string' },
      large: { type: 'boolean' },
      did: { type: 'string' },
      account: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  });
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    print(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const layoutOptions = {
    stateDir: values['state-dir'],
    basePort: values['base-port'] === undefined ? undefined : basePortOption(values['base-port']),
    profile: values.profile === undefined ? undefined : profileOption(values.profile)
  };
  switch (command) {
    case 'up': {
      const layout = await up({ ...layoutOptions, seed: !values['no-seed'] }, print);
      print(describe(status({ stateDir: layout.stateDir })));
      return 0;
    }
    case 'down':
      await down(layoutOptions, print);
      print('devlake is down.');
      return 0;
    case 'status': {
      const current = status(layoutOptions);
      print(values.json ? JSON.stringify(current, null, 2) : describe(current));
      return 0;
    }
    case 'seed': {
      let files: number | undefined;
      if (values.files !== undefined) {
        files = Number(values.files);
        if (!Number.isInteger(files) || files < 1 || files > 10_000_000) {
          throw new DevlakeError(
            `--files must be a whole number from 1 to 10000000; got "${values.files}".`
          );
        }
      }
      await seed({ ...layoutOptions, files, large: values.large }, print);
      return 0;
    }
    case 'stage': {
      const did = values.did ?? '';
      const colon = did.indexOf(':');
      if (colon < 1 || colon === did.length - 1) {
        throw new DevlakeError(
          `--did must name a DID as SCOPE:NAME, e.g. --did bench:files_100000; got "${did}".`
        );
      }
      const account = values.account ?? 'alice';
      const started = Date.now();
      const staged = await stage(
        {
          ...layoutOptions,
          did: { scope: did.slice(0, colon), name: did.slice(colon + 1) },
          account
        },
        print
      );
      print(
        `${did} is on the scratch RSE for ${account}: ${staged.placed} of ${staged.files} files placed now ` +
          `(${staged.copied} copied, the others hard-linked), rule ${staged.ruleId} ` +
          `${staged.ruleCreated ? 'created' : 'reused'}, ${staged.ruleState}; ${((Date.now() - started) / 1000).toFixed(1)} s.`
      );
      return staged.ruleState === 'OK' ? 0 : 1;
    }
    case 'reset': {
      const layout = await reset({ ...layoutOptions, seed: !values['no-seed'] }, print);
      print(describe(status({ stateDir: layout.stateDir })));
      return 0;
    }
    default:
      throw new DevlakeError(
        `"${command}" is not a devlake command. Run "devlake --help" to see the commands.`
      );
  }
}

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof DevlakeError || error instanceof RucioError) {
      process.stderr.write(`devlake: ${error.message}\n`);
    } else if (
      error instanceof Error &&
      'code' in error &&
      String(error.code).startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`devlake: ${error.message}. Run "devlake --help" to see the options.\n`);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(
        `devlake: unexpected failure: ${message}\nPlease report it with the command you ran and the logs under .devlake/logs.\n`
      );
    }
    process.exitCode = 1;
  }
);
