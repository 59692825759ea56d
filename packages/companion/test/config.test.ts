import { mkdtempSync, writeFileSync } from 'node:fs';
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
  it('when no DLAAS_CONFIG is set, then the companion starts with no instance', () => {
    expect(loadConfig({})).toEqual(EMPTY_CONFIG);
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

  it('when a token instance says nowhere where the token is, then the sentence asks for file or env', () => {
    expect(() =>
      checkConfig({ instances: [{ ...instance, auth: { method: 'token' } }] }, 'c.json')
    ).toThrow(/needs "file" or "env"/);
  });

  it('when the file is missing or not JSON, then the sentence says so', () => {
    expect(() => loadConfig({ DLAAS_CONFIG: '/nonexistent/dlaas.json' })).toThrow(/does not exist/);
    expect(() => loadConfig({ DLAAS_CONFIG: file('{nope') })).toThrow(/is not valid JSON/);
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
