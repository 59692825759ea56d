import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig, ConfigError, EMPTY_CONFIG, loadConfig } from '../src/config.js';

const instance = {
  name: 'lake',
  rucioUrl: 'https://rucio.example.org',
  auth: { method: 'userpass', username: 'u', password: 'p' },
  scratchRse: 'SCRATCH'
};

function file(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'dlaas-config-')), 'config.json');
  writeFileSync(path, content);
  return path;
}

describe('configuration', () => {
  it('when no DLAAS_CONFIG is set and the user has no file of their own, then the companion starts with no instance', () => {
    expect(loadConfig({})).toEqual(EMPTY_CONFIG);
    expect(loadConfig({ HOME: mkdtempSync(join(tmpdir(), 'dlaas-home-')) })).toEqual(EMPTY_CONFIG);
  });

  it('when no DLAAS_CONFIG is set, then the user’s ~/.config/dlaas/companion file is read (XDG_CONFIG_HOME first), and DLAAS_CONFIG wins over it', () => {
    const home = mkdtempSync(join(tmpdir(), 'dlaas-home-'));
    mkdirSync(join(home, '.config', 'dlaas'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'dlaas', 'companion.yaml'),
      `instances:\n  - name: mine\n    rucioUrl: https://rucio.example\n    scratchRse: SCRATCH\n    auth: {method: token, env: T}\n`
    );
    expect(loadConfig({ HOME: home }).instances.map(i => i.name)).toEqual(['mine']);
    const xdg = mkdtempSync(join(tmpdir(), 'dlaas-xdg-'));
    mkdirSync(join(xdg, 'dlaas'));
    writeFileSync(
      join(xdg, 'dlaas', 'companion.json'),
      JSON.stringify({ instances: [{ ...instance, name: 'xdg' }] })
    );
    expect(loadConfig({ HOME: home, XDG_CONFIG_HOME: xdg }).instances.map(i => i.name)).toEqual([
      'xdg'
    ]);
    const explicit = file(JSON.stringify({ instances: [{ ...instance, name: 'explicit' }] }));
    expect(loadConfig({ HOME: home, DLAAS_CONFIG: explicit }).instances.map(i => i.name)).toEqual([
      'explicit'
    ]);
  });

  it('when a key is wrong, then the error names it', () => {
    expect(() =>
      checkConfig({ instances: [{ ...instance, rucioUrl: 'ftp://x' }] }, 'c.json')
    ).toThrow(/the key "instances\.0\.rucioUrl" is wrong/);
    expect(() => checkConfig({ instances: [{ ...instance, scratchRSE: 'X' }] }, 'c.json')).toThrow(
      ConfigError
    );
    expect(() => checkConfig({ instances: [instance], extra: 1 }, 'c.json')).toThrow(
      /"extra"|top level/
    );
  });

  it('when two instances share a name or the default names none, then the sentence says which', () => {
    expect(() => checkConfig({ instances: [instance, instance] }, 'c.json')).toThrow(
      /two instances are named "lake"/
    );
    expect(() =>
      checkConfig({ instances: [instance], defaultInstance: 'other' }, 'c.json')
    ).toThrow(/"defaultInstance" is "other".*there are: lake/);
  });

  it('when an instance names its own naming rules, then they are kept, and one that is not a regular expression is refused with the key', () => {
    const naming = { name: '^/[A-Za-z0-9_./#-]+$', nameMaxLength: 500 };
    expect(checkConfig({ instances: [{ ...instance, naming }] }, 'c.json').instances[0]).toEqual(
      expect.objectContaining({ naming })
    );
    expect(() =>
      checkConfig({ instances: [{ ...instance, naming: { scope: '^[a-z' } }] }, 'c.json')
    ).toThrow(/"instances\.0\.naming\.scope" is not a regular expression/);
  });

  it('when a token instance says nowhere where the token is, then the sentence asks for file or env', () => {
    expect(() =>
      checkConfig({ instances: [{ ...instance, auth: { method: 'token' } }] }, 'c.json')
    ).toThrow(/needs "file" or "env"/);
  });

  it('when the file is missing or not JSON, then the sentence says so', () => {
    expect(() => loadConfig({ DLAAS_CONFIG: '/nonexistent/dlaas.json' })).toThrow(/does not exist/);
    expect(() => loadConfig({ DLAAS_CONFIG: file('{nope') })).toThrow(/is not valid JSON/);
  });

  it('when the file is YAML, then it is read as such, and bad YAML is named', () => {
    const yaml =
      'instances:\n  - name: lake\n    rucioUrl: https://rucio.example.org\n    auth: {method: userpass, username: u, password: p}\n    scratchRse: SCRATCH\n';
    const dir = mkdtempSync(join(tmpdir(), 'dlaas-config-'));
    writeFileSync(join(dir, 'c.yaml'), yaml);
    expect(loadConfig({ DLAAS_CONFIG: join(dir, 'c.yaml') }).instances[0]?.name).toBe('lake');
    writeFileSync(join(dir, 'bad.yml'), 'instances: [\n');
    expect(() => loadConfig({ DLAAS_CONFIG: join(dir, 'bad.yml') })).toThrow(/is not valid YAML/);
  });

  it('when DLAAS_INSTANCES__ variables are set, then they override keys, JSON values included, and the result is checked', () => {
    const path = file(JSON.stringify({ instances: [instance] }));
    const config = loadConfig({
      DLAAS_CONFIG: path,
      DLAAS_INSTANCES__lake__rucioUrl: 'https://other.example.org',
      DLAAS_INSTANCES__lake__auth__password: 'from-a-secret',
      DLAAS_INSTANCES__lake__ruleLifetimeSeconds: '7200'
    });
    expect(config.instances[0]).toMatchObject({
      rucioUrl: 'https://other.example.org',
      auth: { password: 'from-a-secret' },
      ruleLifetimeSeconds: 7200
    });
    expect(() =>
      loadConfig({ DLAAS_CONFIG: path, DLAAS_INSTANCES__lake__rucioUrl: 'nope' })
    ).toThrow(/with DLAAS_INSTANCES__lake__rucioUrl.*"instances\.0\.rucioUrl" is wrong/);
    expect(() => loadConfig({ DLAAS_INSTANCES__lake: 'x' })).toThrow(
      /DLAAS_INSTANCES__<instance>__<key>/
    );
  });

  it('when only the environment describes an instance, then no file is needed', () => {
    const config = loadConfig({
      DLAAS_INSTANCES__env__rucioUrl: 'https://rucio.example.org',
      DLAAS_INSTANCES__env__auth: '{"method": "token", "env": "ACCESS_TOKEN"}',
      DLAAS_INSTANCES__env__scratchRse: 'SCRATCH'
    });
    expect(config.instances.map(i => i.name)).toEqual(['env']);
  });

  it('when DLAAS_DEFAULT_INSTANCE is set, then it overrides the file and is checked', () => {
    const path = file(JSON.stringify({ instances: [instance, { ...instance, name: 'other' }] }));
    expect(
      loadConfig({ DLAAS_CONFIG: path, DLAAS_DEFAULT_INSTANCE: 'other' }).defaultInstance
    ).toBe('other');
    expect(() => loadConfig({ DLAAS_CONFIG: path, DLAAS_DEFAULT_INSTANCE: 'x' })).toThrow(
      /no instance has that name/
    );
  });
});
