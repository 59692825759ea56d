import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linkUserConfig } from '../src/userconfig.js';

function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'devlake-userconfig-'));
  const env = { XDG_CONFIG_HOME: join(dir, 'config') };
  const lake = join(dir, 'state', 'companion.json');
  mkdirSync(join(dir, 'state'));
  writeFileSync(lake, '{"instances": []}');
  return { dir, env, lake, link: join(dir, 'config', 'dlaas', 'companion.json') };
}

describe("the user's companion configuration", () => {
  it('when the user has none, then it is linked to devlake’s, and linking again changes nothing', () => {
    const { env, lake, link } = setUp();
    expect(linkUserConfig(lake, env)).toEqual({ path: link, linked: true });
    expect(readlinkSync(link)).toBe(lake);
    expect(linkUserConfig(lake, env)).toEqual({ path: link, linked: true });
  });

  it('when the link is left from a devlake that is gone, then it is replaced', () => {
    const { dir, env, lake, link } = setUp();
    mkdirSync(join(dir, 'config', 'dlaas'), { recursive: true });
    symlinkSync(join(dir, 'gone', 'companion.json'), link);
    expect(linkUserConfig(lake, env)).toEqual({ path: link, linked: true });
    expect(readlinkSync(link)).toBe(lake);
  });

  it('when the user has a configuration of their own, JSON or YAML, then it is left alone', () => {
    const { dir, env, lake } = setUp();
    mkdirSync(join(dir, 'config', 'dlaas'), { recursive: true });
    const yaml = join(dir, 'config', 'dlaas', 'companion.yaml');
    writeFileSync(yaml, 'instances: []\n');
    expect(linkUserConfig(lake, env)).toEqual({ path: yaml, linked: false });
    rmSync(yaml);
    const json = join(dir, 'config', 'dlaas', 'companion.json');
    writeFileSync(json, '{"instances": []}');
    expect(linkUserConfig(lake, env)).toEqual({ path: json, linked: false });
  });
});
