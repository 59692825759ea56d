import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Naming, parseDid, pathAmbiguity } from '../src/did.js';
import { AppError } from '../src/errors.js';

describe('parseDid', () => {
  it('when the name holds colons and slashes, then only the first colon splits', () => {
    expect(parseDid('atlas_opendata:/store/data/x.root')).toEqual({
      scope: 'atlas_opendata',
      name: '/store/data/x.root'
    });
  });

  it('when wildcards are allowed, then * and % pass in the name', () => {
    expect(parseDid('lofar:L6*', { wildcards: true })).toEqual({ scope: 'lofar', name: 'L6*' });
    expect(() => parseDid('lofar:L6*')).toThrow(AppError);
  });

  it('when a name has . or .. segments or doubled slashes, then it is taken as Rucio takes it, never normalized', () => {
    for (const name of ['a/../b', '/../../x', 'a//b', 'a/./b', '1/..']) {
      expect(parseDid(`user.alice:${name}`)).toEqual({ scope: 'user.alice', name });
    }
  });

  it('when a name would turn into another on a file system or in a URL, then pathAmbiguity says why', () => {
    expect(pathAmbiguity('a/../b')).toMatch(/"\." or "\.\." segment/);
    expect(pathAmbiguity('a/./b')).toMatch(/"\." or "\.\." segment/);
    expect(pathAmbiguity('a//b')).toMatch(/empty segment/);
    expect(pathAmbiguity('a/')).toMatch(/empty segment/);
    expect(pathAmbiguity('//a')).toMatch(/empty segment/);
    expect(pathAmbiguity('/store/data/x.root')).toBeNull();
    expect(pathAmbiguity('a.b/c..d/...')).toBeNull();
  });

  it('when the instance has its own naming rules, then they decide (CMS block names hold #)', () => {
    const cms = new Naming({ name: '^/[A-Za-z0-9_./#-]+$', nameMaxLength: 500 });
    const block = '/Tau/Run2012A-v1/AOD#a1b2c3';
    expect(parseDid(`cms:${block}`, { naming: cms })).toEqual({ scope: 'cms', name: block });
    expect(() => parseDid(`cms:${block}`)).toThrow(/not a valid name:/);
    const anything = new Naming({ name: '^.+$' });
    for (const name of ['.', '..']) {
      expect(() => parseDid(`cms:${name}`, { naming: anything })).toThrow(
        /a name cannot be "\." or "\.\."/
      );
    }
    expect(() => parseDid('cms:noslash', { naming: cms })).toThrow(
      /not a valid name here: this data lake's names have up to 500 characters and match/
    );
    expect(() => parseDid(`cms:/${'x'.repeat(500)}`, { naming: cms })).toThrow(AppError);
  });

  it('when any string is given, then the answer is a DID that round-trips or a 400 with a sentence', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), text => {
        try {
          const did = parseDid(text);
          expect(`${did.scope}:${did.name}`).toBe(text);
          expect(did.name).toMatch(/^[/A-Za-z0-9][/A-Za-z0-9.\-_]{0,249}$/);
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect((error as AppError).status).toBe(400);
          expect((error as AppError).message).toMatch(/\.$/);
        }
      }),
      { numRuns: 2000 }
    );
  });
});
