import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig, ConfigError, downloadRootOf } from '../src/config.js';
import { defaultJournalFile } from '../src/domain/downloads.js';
import { Lake } from '../src/domain/lake.js';

/** Download mode in the configuration: an instance with no scratch RSE, and where files go. */

const base = {
  name: 'lake',
  rucioUrl: 'http://rucio.invalid',
  auth: { method: 'userpass', username: 'u', password: 'p' }
};

describe('download mode configuration', () => {
  it('when an instance is in download mode, then it needs no scratch RSE and downloads into ~/datalake-downloads by default', () => {
    const config = checkConfig({ instances: [{ ...base, mode: 'download' }] }, 'the test');
    const instance = config.instances[0];
    expect(instance?.scratchRse).toBeUndefined();
    expect(downloadRootOf(instance as never, '/home/u')).toBe('/home/u/datalake-downloads');
    expect(downloadRootOf({ ...(instance as never), downloadDir: '~/data/lake' }, '/home/u')).toBe(
      '/home/u/data/lake'
    );
  });

  it('when an instance in replica mode names no scratch RSE, then the configuration is refused with a sentence that names both ways out', () => {
    expect(() => checkConfig({ instances: [base] }, 'the test')).toThrow(ConfigError);
    expect(() => checkConfig({ instances: [base] }, 'the test')).toThrow(
      /has no "scratchRse".*"mode": "download"/
    );
  });

  it('when downloadDir is relative, or a FUSE mount has no scratch RSE, then the configuration is refused with the key', () => {
    expect(() =>
      checkConfig({ instances: [{ ...base, mode: 'download', downloadDir: 'data' }] }, 'the test')
    ).toThrow(/instances\.0\.downloadDir.*absolute path/);
    expect(() =>
      checkConfig(
        { instances: [{ ...base, mode: 'download', paths: { mode: 'fuse' } }] },
        'the test'
      )
    ).toThrow(/mounts its scratch RSE/);
  });

  it('when the journal has no XDG_STATE_HOME, then it lies under ~/.local/state/dlaas', () => {
    expect(defaultJournalFile('lake', { XDG_STATE_HOME: '/state' })).toBe(
      join('/state', 'dlaas', 'downloads', 'lake.json')
    );
    expect(defaultJournalFile('lake', {})).toMatch(/\.local\/state\/dlaas\/downloads\/lake\.json$/);
  });

  it('when an instance is in download mode, then the panel learns it and "make available" is refused with a sentence, before Rucio is asked', async () => {
    const lake = new Lake(checkConfig({ instances: [{ ...base, mode: 'download' }] }, 'the test'));
    try {
      expect(lake.instances()[0]).toMatchObject({ mode: 'download', scratchRse: '' });
      await expect(
        lake.instance('lake').availabilities.makeAvailable({ scope: 'user.u', name: 'ds' })
      ).rejects.toMatchObject({
        status: 409,
        message: expect.stringMatching(/no scratch storage.*download the data instead/)
      });
    } finally {
      await lake.close();
    }
  });
});
