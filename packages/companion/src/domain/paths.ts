import { posix } from 'node:path';
import type { InstanceConfig } from '../config.js';
import { pathAmbiguity, type DidRef } from '../did.js';

/** Where the files made available are on this machine. */
export interface LocalPathSource {
  /** Resolves when {@link localPath} can answer for the files of `did`. */
  prepare(did: DidRef): Promise<void>;
  /** The local path of a file with a replica at `pfn` on the scratch RSE, listed for `within`; or null. */
  localPath(file: DidRef, pfn: string | undefined, within: DidRef): string | null;
}

/**
 * Maps a PFN on the scratch RSE to a local path, by the configured prefix mappings (a site mount
 * such as EOS or CephFS, or devlake's storage directory). A PFN outside every mapping, or with a
 * `.` or `..` segment, has no local path: the file system would resolve it onto another file.
 */
export class PathResolver implements LocalPathSource {
  private readonly mappings: readonly { pfnPrefix: string; localPrefix: string }[];

  /** Takes the mappings of `prefix` mode, and those `fuse` mode falls back to. */
  constructor(config: InstanceConfig['paths']) {
    this.mappings = config?.mode === 'none' ? [] : (config?.mappings ?? []);
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  /** A file whose name a file system would turn into another name (see pathAmbiguity) has none. */
  localPath(file: DidRef, pfn: string | undefined): string | null {
    return pfn === undefined || pathAmbiguity(file.name) !== null ? null : this.resolve(pfn);
  }

  /** The local path of a PFN, or null. */
  resolve(pfn: string): string | null {
    for (const { pfnPrefix, localPrefix } of this.mappings) {
      if (startsAtBoundary(pfn, pfnPrefix)) {
        let rest: string;
        try {
          rest = decodeURIComponent(pfn.slice(pfnPrefix.length));
        } catch {
          return null;
        }
        // eslint-disable-next-line no-control-regex
        if (/[\u0000-\u001f\u007f]/.test(rest)) {
          return null; // a NUL or another control character: no file of ours is named so
        }
        if (rest.split('/').some(s => s === '.' || s === '..')) {
          return null; // the file system would resolve it onto another file (a scope "..", say)
        }
        const root = posix.normalize(localPrefix.endsWith('/') ? localPrefix : `${localPrefix}/`);
        const path = posix.normalize(posix.join(root, rest));
        return path.startsWith(root) ? path : null;
      }
    }
    return null;
  }
}

/** Whether `pfn` starts with `prefix` at a path boundary: `/scratch` covers `/scratch/x`, not `/scratch2/x`. */
function startsAtBoundary(pfn: string, prefix: string): boolean {
  if (!pfn.startsWith(prefix)) {
    return false;
  }
  return prefix.endsWith('/') || pfn.length === prefix.length || pfn[prefix.length] === '/';
}
