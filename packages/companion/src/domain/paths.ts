import { posix } from 'node:path';
import type { InstanceConfig } from '../config.js';

/**
 * Maps a PFN on the scratch RSE to a local path, by the configured prefix mappings (a site mount
 * such as EOS or CephFS, or devlake's storage directory). A PFN outside every mapping, or one that
 * would climb out of its mount with `..`, has no local path.
 */
export class PathResolver {
  private readonly mappings: readonly { pfnPrefix: string; localPrefix: string }[];

  constructor(config: InstanceConfig['paths']) {
    this.mappings = config?.mode === 'prefix' ? config.mappings : [];
  }

  /** The local path of a PFN, or null. */
  resolve(pfn: string): string | null {
    for (const { pfnPrefix, localPrefix } of this.mappings) {
      if (pfn.startsWith(pfnPrefix)) {
        let rest: string;
        try {
          rest = decodeURIComponent(pfn.slice(pfnPrefix.length));
        } catch {
          return null;
        }
        const root = posix.normalize(localPrefix.endsWith('/') ? localPrefix : `${localPrefix}/`);
        const path = posix.normalize(posix.join(root, rest));
        return path.startsWith(root) ? path : null;
      }
    }
    return null;
  }
}
