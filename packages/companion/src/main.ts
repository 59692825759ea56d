#!/usr/bin/env node
import { rmSync } from 'node:fs';
import { companionToken } from './companion-token.js';
import { ConfigError, loadConfig } from './config.js';
import { log } from './log.js';
import { start, type Listen } from './server.js';

/**
 * Starts the companion: `dlaas-companion --socket PATH` (as the wheel's Jupyter server extension
 * or jupyter-server-proxy runs it) or `--port N`; env DLAAS_SOCKET / DLAAS_PORT do the same; the
 * configuration comes from DLAAS_CONFIG. On a port every request needs the companion's token
 * (`Authorization: token ...`): DLAAS_TOKEN, else a random one written (0600) to
 * `--token-file PATH` or `$XDG_RUNTIME_DIR/dlaas/companion-<port>.token`. `--stop-with-stdin`:
 * stop when stdin closes (the parent holds a pipe to it, so the companion and its mounts go even
 * when the parent is killed).
 */
async function main(argv: string[]): Promise<void> {
  const option = (name: string): string | undefined => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const socket = option('socket') ?? process.env['DLAAS_SOCKET'];
  const portText = option('port') ?? process.env['DLAAS_PORT'];
  const tokenFile = option('token-file');
  if (argv.includes('--token-file') && (!tokenFile || tokenFile.startsWith('--'))) {
    throw new ConfigError('--token-file needs a path: --token-file PATH.');
  }
  let listen: Listen;
  if (socket) {
    if (tokenFile !== undefined) {
      throw new ConfigError(
        '--token-file goes with --port: on a socket (mode 0600) the companion needs no token. Leave it out, or listen with --port N.'
      );
    }
    listen = { socket };
  } else if (portText !== undefined && /^\d+$/.test(portText) && Number(portText) < 65536) {
    listen = { port: Number(portText), token: companionToken(process.env, tokenFile) };
    // Read once; the companion's own child processes need not see it.
    delete process.env['DLAAS_TOKEN'];
  } else {
    throw new ConfigError(
      'Tell the companion where to listen: --socket PATH or --port N (or DLAAS_SOCKET / DLAAS_PORT).'
    );
  }
  const config = loadConfig();
  const running = await start(config, listen);
  log('info', 'companion started', {
    address: running.address,
    // Where the token is, never the token ("credential": a key named token* would be hidden).
    ...(running.tokenFile === undefined ? {} : { credentialFile: running.tokenFile }),
    instances: config.instances.map(i => i.name)
  });
  let stopping = false;
  const stop = (): void => {
    if (!stopping) {
      stopping = true;
      void running.stop().then(() => process.exit(0));
    }
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, stop);
  }
  if (argv.includes('--stop-with-stdin')) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
  // However the process ends (an uncaught error, process.exit elsewhere), folders are unmounted;
  // after SIGKILL, fuse-native's auto-unmount helper does it.
  process.once('exit', () => {
    running.lake.unmountNow();
    if (running.tokenFile !== undefined) {
      rmSync(running.tokenFile, { force: true });
    }
  });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message =
    error instanceof ConfigError
      ? error.message
      : `The companion could not start: ${error instanceof Error ? error.message : String(error)}`;
  process.stderr.write(`dlaas-companion: ${message}\n`);
  process.exit(1);
});
