import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultTokenFile } from '../src/auth/device.js';
import { searchQuery, sortParam } from '../src/domain/browse.js';
import { contentType, parseRange } from '../src/domain/content.js';
import { listSort } from '../src/domain/orders.js';
import { PathResolver } from '../src/domain/paths.js';
import { sortRows } from '../src/domain/windows.js';
import { mapRucioError } from '../src/rucio/errors.js';
import { parseRucioJson } from '../src/rucio/json.js';

describe('searchQuery', () => {
  it('when there is one AND group, then conditions become Rucio query arguments with operator suffixes', () => {
    expect(
      searchQuery('L6*', {
        did: 'lofar:L6*',
        type: 'dataset',
        filters: [
          [
            { key: 'run_number', operator: '>=', value: 5 },
            { key: 'datatype', operator: '!=', value: 'uv' }
          ]
        ]
      })
    ).toEqual({
      type: 'dataset',
      long: true,
      name: 'L6*',
      'run_number.gte': '5',
      'datatype.ne': 'uv'
    });
  });

  it('when there are OR groups, then they become a Python-literal filters list with the name in each and quotes escaped', () => {
    const query = searchQuery('x*', {
      did: 'cta:x*',
      filters: [
        [{ key: 'particle', operator: '=', value: "o'brien" }],
        [{ key: 'hidden', operator: '=', value: true }]
      ]
    });
    expect(query['filters']).toBe(
      "[{'name': 'x*', 'particle': 'o\\'brien'}, {'name': 'x*', 'hidden': True}]"
    );
    expect(query['name']).toBeUndefined();
  });
});

describe('list orders', () => {
  const rows = [
    { scope: 'lofar', name: 'f10', bytes: 5 },
    { scope: 'lofar', name: 'f2', bytes: null },
    { scope: 'lofar', name: 'f1', bytes: 500 },
    { scope: 'cta', name: 'z', bytes: 5 }
  ];
  const names = async (order: 'name' | 'size'): Promise<string[]> =>
    (await sortRows(rows, listSort(order))).map(r => `${r.scope}:${r.name}`);

  it('when sorted by name, then scope comes first and numbers in names count as numbers', async () => {
    expect(await names('name')).toEqual(['cta:z', 'lofar:f1', 'lofar:f2', 'lofar:f10']);
  });

  it('when sorted by size, then the largest come first, ties by name, unknown sizes last', async () => {
    expect(await names('size')).toEqual(['lofar:f1', 'lofar:f10', 'cta:z', 'lofar:f2']);
  });

  it('when the sort parameter is absent, rucio, name or size, then it is accepted; else a sentence', () => {
    expect([undefined, '', 'rucio', 'name', 'size'].map(sortParam)).toEqual([
      undefined,
      undefined,
      undefined,
      'name',
      'size'
    ]);
    expect(() => sortParam('date')).toThrow('"sort" must be "name" or "size"');
  });
});

describe('PathResolver', () => {
  const resolver = new PathResolver({
    mode: 'prefix',
    mappings: [{ pfnPrefix: 'davs://eos.example:443/eos/scratch/', localPrefix: '/eos/scratch' }]
  });

  it('when a PFN is under a mapped prefix, then it maps to the mount, percent-decoded', () => {
    expect(resolver.resolve('davs://eos.example:443/eos/scratch/cta/ab/cd/run%201.fits')).toBe(
      '/eos/scratch/cta/ab/cd/run 1.fits'
    );
  });

  it('when a PFN is elsewhere or climbs out with .., then it has no local path', () => {
    expect(resolver.resolve('davs://other:443/eos/scratch/x')).toBeNull();
    expect(resolver.resolve('davs://eos.example:443/eos/scratch/../../etc/passwd')).toBeNull();
    expect(
      new PathResolver({ mode: 'none' }).resolve('davs://eos.example:443/eos/scratch/x')
    ).toBeNull();
  });
});

describe('PathResolver and names a file system would change', () => {
  const resolver = new PathResolver({
    mode: 'prefix',
    mappings: [{ pfnPrefix: 'http://127.0.0.1:1/rucio/', localPrefix: '/data/scratch' }]
  });
  const pfn = (scope: string, name: string): string =>
    `http://127.0.0.1:1/rucio/${scope}/ab/cd/${name}`;

  it('when two DIDs differ only by . or .. segments or doubled slashes, then neither gets the other’s path', () => {
    const plain = { scope: 'user.alice', name: 'run/b.dat' };
    expect(resolver.localPath(plain, pfn('user/alice', plain.name), plain)).toBe(
      '/data/scratch/user/alice/ab/cd/run/b.dat'
    );
    for (const name of [
      'run/x/../b.dat',
      'run/./b.dat',
      'run//b.dat',
      '/../../../ab/cd/run/b.dat'
    ]) {
      const did = { scope: 'user.alice', name };
      expect(resolver.localPath(did, pfn('user/alice', name), did), name).toBeNull();
    }
  });

  it('when a scope is "..", then its PFN has no local path', () => {
    const did = { scope: '..', name: 'x' };
    expect(resolver.localPath(did, pfn('..', 'x'), did)).toBeNull();
  });

  it('when a name starts with one slash, then it still maps', () => {
    const did = { scope: 'cms', name: '/store/x.root' };
    expect(resolver.localPath(did, pfn('cms', did.name), did)).toBe(
      '/data/scratch/cms/ab/cd/store/x.root'
    );
  });
});

describe('PathResolver at path boundaries', () => {
  const resolver = new PathResolver({
    mode: 'prefix',
    mappings: [{ pfnPrefix: 'davs://eos.example:443/eos/scratch', localPrefix: '/eos/scratch' }]
  });

  it('when a prefix without a trailing slash is configured, then it covers its folder and not a sibling that starts alike', () => {
    expect(resolver.resolve('davs://eos.example:443/eos/scratch/cta/x.fits')).toBe(
      '/eos/scratch/cta/x.fits'
    );
    expect(resolver.resolve('davs://eos.example:443/eos/scratch2/cta/x.fits')).toBeNull();
    expect(resolver.resolve('davs://eos.example:443/eos/scratchy')).toBeNull();
  });

  it.each(['a%00b', 'a%0Ab', 'a\u0007b', 'a%7Fb'])(
    'when a PFN holds a control character (%s), then it has no local path',
    name => {
      expect(resolver.resolve(`davs://eos.example:443/eos/scratch/${name}`)).toBeNull();
    }
  );
});

describe('defaultTokenFile', () => {
  it.each([
    [undefined, join(homedir(), '.local', 'share')],
    ['', join(homedir(), '.local', 'share')],
    ['relative/data', join(homedir(), '.local', 'share')],
    ['/data/alice', '/data/alice']
  ])('when XDG_DATA_HOME is %j, then tokens are kept under %s', (xdg, base) => {
    const env = xdg === undefined ? {} : { XDG_DATA_HOME: xdg };
    expect(defaultTokenFile('lake', env)).toBe(join(base, 'dlaas', 'lake.tokens.json'));
  });
});

describe('parseRange', () => {
  it('when ranges are open, suffix or past the end, then they become closed ranges inside the file', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=95-200', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange(undefined, 100)).toBeUndefined();
  });
});

describe('contentType', () => {
  it('when a file could run script in the browser, then it is served as bytes', () => {
    expect(contentType('a/b.csv')).toMatch(/^text\/csv/);
    expect(contentType('x.PNG')).toBe('image/png');
    for (const name of ['x.html', 'x.svg', 'x.js', 'x']) {
      expect(contentType(name)).toBe('application/octet-stream');
    }
  });
});

describe('mapRucioError', () => {
  it('when Rucio refuses a request with a 400 of a class not named here, then the answer is a 400 with Rucio’s reason, not a 502', () => {
    const error = mapRucioError(400, 'DIDFilterSyntaxError', 'bad filter', { instance: 'lake' });
    expect(error).toMatchObject({ status: 400, code: 'bad_request' });
    expect(error.message).toBe(
      'lake refused the request: bad filter. Check what you asked for and try again.'
    );
  });

  it('when Rucio’s replica listing refuses a name without a letter or digit, then the sentence says so instead of a schema dump', () => {
    const error = mapRucioError(
      400,
      'InvalidObject',
      "Problem validating r_dids: '/-' does not match '\\\\w'",
      { instance: 'lake', did: 'user.alice:/-' }
    );
    expect(error).toMatchObject({ status: 409, code: 'conflict' });
    expect(error.message).toMatch(
      /cannot list where the files of "user.alice:\/-" are: .*give it a name with a letter or a digit\.$/
    );
    expect(error.message).not.toContain('validating');
  });

  it('when Rucio names an exception, then the user gets a sentence and a fitting status', () => {
    const context = { instance: 'lake', did: 'cta:x', rse: 'SCRATCH' };
    expect(mapRucioError(404, 'DataIdentifierNotFound', '', context)).toMatchObject({
      status: 404,
      code: 'not_found'
    });
    expect(mapRucioError(409, 'InsufficientAccountLimit', '', context)).toMatchObject({
      status: 409,
      code: 'quota_exceeded'
    });
    expect(mapRucioError(500, 'RSEWriteBlocked', '', context)).toMatchObject({
      status: 503,
      code: 'rse_blocked'
    });
    expect(mapRucioError(401, 'CannotAuthenticate', '', context)).toMatchObject({
      status: 401,
      code: 'not_signed_in'
    });
    expect(mapRucioError(500, 'AccessDenied', '', context)).toMatchObject({
      status: 403,
      code: 'forbidden'
    });
    const other = mapRucioError(500, undefined, '', context);
    expect(other).toMatchObject({ status: 502, code: 'rucio_error' });
    for (const error of [other, mapRucioError(404, 'DataIdentifierNotFound', '', context)]) {
      expect(error.message).toMatch(/\.$/);
      expect(error.message).not.toMatch(/Traceback|Exception/);
    }
  });
});

describe('parseRucioJson', () => {
  it('when Rucio sends Infinity for an unlimited quota, then it parses', () => {
    expect(parseRucioJson('{"SCRATCH": Infinity}')).toEqual({ SCRATCH: Infinity });
  });
});
