import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DevlakeError } from '../src/errors.js';
import { rucioConfig, rucioDaemonServices, rucioEnv } from '../src/rucio.js';
import { basePortOption, profileOption, resolveLayout, RSES, saveLayout } from '../src/settings.js';

afterEach(() => {
  delete process.env['DEVLAKE_BASE_PORT'];
  delete process.env['DEVLAKE_PROFILE'];
});

describe('resolveLayout', () => {
  it('when a base port is given, then every service gets its own port above it', () => {
    const layout = resolveLayout({ stateDir: mkdtempSync(join(tmpdir(), 'dl-')), basePort: 20000 });
    const ports = [
      layout.ports.postgres,
      layout.ports.rucio,
      layout.ports.transfers,
      ...Object.values(layout.ports.rses)
    ];
    expect(new Set(ports).size).toBe(ports.length);
    expect(Math.min(...ports)).toBeGreaterThan(20000);
    expect(Math.max(...ports)).toBeLessThanOrEqual(20020);
    expect(Object.keys(layout.ports.rses)).toEqual(RSES.map(r => r.name));
  });

  it('when an earlier up saved a base port, then later commands use it', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dl-'));
    writeFileSync(
      join(stateDir, 'devlake.json'),
      JSON.stringify({ basePort: 21000, dataDir: '/x' })
    );
    const layout = resolveLayout({ stateDir });
    expect(layout.ports.rucio).toBe(21002);
    expect(layout.dataDir).toBe('/x');
  });

  it('when the saved state is not JSON, then a sentence says how to recover', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dl-'));
    writeFileSync(join(stateDir, 'devlake.json'), '{oops');
    expect(() => resolveLayout({ stateDir })).toThrow(/not valid JSON.*devlake reset/);
  });

  it('when DEVLAKE_BASE_PORT is not a port, then a sentence names the variable', () => {
    process.env['DEVLAKE_BASE_PORT'] = 'abc';
    expect(() => resolveLayout({ stateDir: mkdtempSync(join(tmpdir(), 'dl-')) })).toThrow(
      DevlakeError
    );
    expect(() => resolveLayout({ stateDir: mkdtempSync(join(tmpdir(), 'dl-')) })).toThrow(
      /DEVLAKE_BASE_PORT must be a whole number/
    );
  });

  it('when --base-port is out of range, then it is refused with the range', () => {
    expect(() => basePortOption('80')).toThrow(/between 1024 and 65000/);
    expect(basePortOption('30000')).toBe(30000);
  });
});

describe('profiles', () => {
  it('when up saved the small profile, then later commands (status, down) use it without being told', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dl-'));
    saveLayout(resolveLayout({ stateDir, profile: 'small' }));
    expect(resolveLayout({ stateDir }).profile).toBe('small');
  });

  it('when a state has no profile (an older devlake), then it is the full profile', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dl-'));
    writeFileSync(
      join(stateDir, 'devlake.json'),
      JSON.stringify({ basePort: 21000, dataDir: '/x' })
    );
    expect(resolveLayout({ stateDir }).profile).toBe('full');
  });

  it('when --profile or DEVLAKE_PROFILE names no profile, then a sentence lists the profiles', () => {
    expect(() => profileOption('tiny')).toThrow(/--profile must be one of full, small/);
    process.env['DEVLAKE_PROFILE'] = 'tiny';
    expect(() => resolveLayout({ stateDir: mkdtempSync(join(tmpdir(), 'dl-')) })).toThrow(
      /DEVLAKE_PROFILE must be one of full, small/
    );
    expect(profileOption('small')).toBe('small');
  });

  it('when the profile is small, then Rucio runs its daemons in one process with small connection pools', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dl-'));
    const small = resolveLayout({ stateDir, profile: 'small' });
    const full = resolveLayout({ stateDir, profile: 'full' });
    expect(rucioDaemonServices(small, '/venv/bin').map(s => s.name)).toEqual(['rucio-daemons']);
    expect(rucioDaemonServices(full, '/venv/bin')).toHaveLength(8);
    expect(rucioConfig(small, '/a.ini')).toMatch(/pool_size = 3\n/);
    expect(rucioConfig(full, '/a.ini')).toMatch(/pool_size = 20\n/);
    expect(rucioEnv(small)['MALLOC_ARENA_MAX']).toBe('2');
    expect(rucioEnv(full)['MALLOC_ARENA_MAX']).toBeUndefined();
  });
});
