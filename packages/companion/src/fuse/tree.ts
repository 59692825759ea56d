import { createHash } from 'node:crypto';

/** A file of the mount: one DID with a replica on the scratch RSE. */
export interface MountedFile {
  /** `scope:name`. */
  readonly did: string;
  readonly bytes: number;
  /** Where the scratch replica is read from (the PFN Rucio lists). */
  readonly pfn: string;
  readonly adler32: string | null;
  readonly md5: string | null;
  /** Milliseconds since the epoch: when the file was made available (its rule's creation). */
  readonly mtimeMs: number;
}

/**
 * One place a DID asks for in the tree: raw path segments (a scope, then the segments of Rucio
 * names split at `/`, not yet made safe), the collection whose folder each segment is (if any),
 * and a file at the end, or none when the claim is a collection's (maybe still empty) folder.
 */
export interface Claim {
  readonly segments: readonly string[];
  /** For each segment, the collection (`scope:name`) shown as the folder it names, if any. */
  readonly owners: readonly (string | undefined)[];
  readonly file?: MountedFile;
  /** When the claim was made available (milliseconds since the epoch). */
  readonly mtimeMs: number;
}

/** A folder of the mount. */
export interface FolderNode {
  readonly kind: 'folder';
  /** Below the mount, starting with `/` (the root's is empty). */
  readonly path: string;
  readonly children: Map<string, TreeNode>;
  mtimeMs: number;
  /** The collection (`scope:name`) shown as this folder, if any. */
  collection?: string;
}

/**
 * A file of the mount. Its path is not kept but made from its folder's when asked for: a path
 * string (and an array) per file took about 150 bytes per file, 15 MB for 100,000 files.
 */
export interface FileNode {
  readonly kind: 'file';
  readonly file: MountedFile;
  readonly folder: FolderNode;
  /** Its entry name in the folder. */
  readonly name: string;
}

/** A node of the mount's tree. */
export type TreeNode = FolderNode | FileNode;

/** Entry names the tree never shows, because they mean something to every program. */
const SPECIAL: Record<string, string> = { '': '(empty)', '.': '(dot)', '..': '(dot-dot)' };

/** The longest entry name Linux takes, in bytes. */
const NAME_MAX = 255;

/**
 * The entry name of one raw segment: an empty segment, `.` and `..` (which Rucio names may hold:
 * `a//b`, `a/./b`) become `(empty)`, `(dot)` and `(dot-dot)`; a segment too long for Linux is cut
 * and ends with a hash of the whole. Nothing else changes: no normalization.
 */
export function entryName(segment: string): string {
  const special = SPECIAL[segment];
  if (special !== undefined) {
    return special;
  }
  if (Buffer.byteLength(segment) <= NAME_MAX) {
    return segment;
  }
  return `${segment.slice(0, NAME_MAX - 10)}~${shortHash(segment)}`;
}

function shortHash(text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * The name a DID gets where its own name is taken: `~` and a hash of the DID before the
 * extension (`events.csv` → `events~1a2b3c4d.csv`), so that it is the same at every refresh and
 * programs still recognise the file's type. Rucio names hold no `~`, so no DID's own name is ever
 * one of these.
 */
export function distinctName(name: string, did: string, length = 8): string {
  const dot = name.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${stem}~${shortHash(did, length)}${extension}`;
}

/** The paths (below the mount, starting with `/`) of each file DID; a file may be in several collections. */
export interface FilePaths extends Iterable<[string, string[]]> {
  get(did: string): string[] | undefined;
  has(did: string): boolean;
  keys(): IterableIterator<string>;
  readonly size: number;
}

/** {@link FilePaths} made from the file nodes when asked for (one node, or several). */
class FilePathsOfNodes implements FilePaths {
  constructor(private readonly nodes: ReadonlyMap<string, FileNode | FileNode[]>) {}

  get size(): number {
    return this.nodes.size;
  }

  has(did: string): boolean {
    return this.nodes.has(did);
  }

  get(did: string): string[] | undefined {
    const found = this.nodes.get(did);
    return found === undefined ? undefined : pathsOf(found);
  }

  keys(): IterableIterator<string> {
    return this.nodes.keys();
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const [did, found] of this.nodes) {
      yield [did, pathsOf(found)];
    }
  }
}

function pathsOf(found: FileNode | FileNode[]): string[] {
  return (Array.isArray(found) ? found : [found]).map(node => `${node.folder.path}/${node.name}`);
}

/** The mount's tree and where each DID is in it. */
export interface MountTree {
  readonly root: FolderNode;
  readonly files: FilePaths;
  /** The folder (below the mount) of each collection DID. */
  readonly collections: Map<string, string>;
  /** Files and bytes in the tree (each path counted). */
  readonly fileCount: number;
  readonly byteCount: number;
}

interface Pending {
  readonly claim: Claim;
  /** How many of the claim's segments lie above the folder being filled. */
  readonly depth: number;
}

/**
 * Builds the tree from every claim, the same way whatever their order:
 * - claims that continue below a name share one folder there, unless they belong to different
 *   collections at that level: then the collection whose DID sorts first keeps the plain name
 *   and the others get distinct ones ({@link distinctName});
 * - a file whose name a folder holds, or that another file DID sorting before it holds, gets a
 *   distinct name;
 * - the same file DID claimed twice at one place is one entry.
 * So two DIDs never share a path, and no entry is named `.` or `..`.
 */
export function buildTree(claims: Iterable<Claim>): MountTree {
  const files = new Map<string, FileNode | FileNode[]>();
  const collections = new Map<string, string>();
  let fileCount = 0;
  let byteCount = 0;
  const root: FolderNode = { kind: 'folder', path: '', children: new Map(), mtimeMs: 0 };

  const fill = (folder: FolderNode, pending: readonly Pending[]): void => {
    const path = folder.path;
    const byName = new Map<string, Pending[]>();
    for (const item of pending) {
      const name = entryName(item.claim.segments[item.depth] as string);
      const group = byName.get(name);
      if (group) {
        group.push(item);
      } else {
        byName.set(name, [item]);
      }
    }
    const taken = new Set(byName.keys());
    const place = (name: string, did: string): string => {
      for (const length of [8, 16, 64]) {
        const candidate = distinctName(name, did, length);
        if (!taken.has(candidate)) {
          taken.add(candidate);
          return candidate;
        }
      }
      throw new Error(`no distinct name for ${did} in ${path}`);
    };
    const isLeaf = (item: Pending): boolean =>
      item.claim.file !== undefined && item.depth === item.claim.segments.length - 1;
    for (const [name, group] of [...byName].sort(([a], [b]) => compare(a, b))) {
      const folderItems = group.filter(item => !isLeaf(item));
      const owners = [
        ...new Set(folderItems.flatMap(item => item.claim.owners[item.depth] ?? []))
      ].sort(compare);
      const subfolders: { node: FolderNode; items: Pending[] }[] = [];
      if (folderItems.length > 0) {
        const byOwner = new Map<string | undefined, { node: FolderNode; items: Pending[] }>();
        owners.forEach((owner, index) => {
          const folderName = index === 0 ? name : place(name, owner);
          const node: FolderNode = {
            kind: 'folder',
            path: `${path}/${folderName}`,
            children: new Map(),
            mtimeMs: 0,
            collection: owner
          };
          const entry = { node, items: [] };
          folder.children.set(folderName, node);
          collections.set(owner, node.path);
          byOwner.set(owner, entry);
          subfolders.push(entry);
        });
        let plain = byOwner.get(owners[0]);
        if (!plain) {
          const node: FolderNode = {
            kind: 'folder',
            path: `${path}/${name}`,
            children: new Map(),
            mtimeMs: 0
          };
          folder.children.set(name, node);
          plain = { node, items: [] };
          subfolders.push(plain);
        }
        for (const item of folderItems) {
          const target = byOwner.get(item.claim.owners[item.depth]) ?? plain;
          if (item.depth === item.claim.segments.length - 1) {
            target.node.mtimeMs = Math.max(target.node.mtimeMs, item.claim.mtimeMs);
          } else {
            target.items.push({ claim: item.claim, depth: item.depth + 1 });
          }
        }
      }
      const leaves = new Map<string, MountedFile>();
      for (const item of group) {
        const file = item.claim.file;
        if (file && isLeaf(item) && !leaves.has(file.did)) {
          leaves.set(file.did, file);
        }
      }
      [...leaves.keys()].sort(compare).forEach((did, index) => {
        const file = leaves.get(did) as MountedFile;
        const fileName = folderItems.length > 0 || index > 0 ? place(name, did) : name;
        const node: FileNode = { kind: 'file', file, folder, name: fileName };
        folder.children.set(fileName, node);
        // One node, or several when the file is in several collections (rare): no array per file.
        const known = files.get(did);
        files.set(
          did,
          known === undefined ? node : Array.isArray(known) ? [...known, node] : [known, node]
        );
        fileCount += 1;
        byteCount += file.bytes;
        folder.mtimeMs = Math.max(folder.mtimeMs, file.mtimeMs);
      });
      for (const sub of subfolders) {
        fill(sub.node, sub.items);
        folder.mtimeMs = Math.max(folder.mtimeMs, sub.node.mtimeMs);
      }
    }
  };

  fill(
    root,
    [...claims].filter(claim => claim.segments.length > 0).map(claim => ({ claim, depth: 0 }))
  );
  return { root, files: new FilePathsOfNodes(files), collections, fileCount, byteCount };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The node at a path below the mount (`/` is the root), or undefined. */
export function lookup(tree: MountTree, path: string): TreeNode | undefined {
  if (path === '/' || path === '') {
    return tree.root;
  }
  let node: TreeNode = tree.root;
  for (const part of path.split('/').slice(1)) {
    if (node.kind !== 'folder') {
      return undefined;
    }
    const next: TreeNode | undefined = node.children.get(part);
    if (!next) {
      return undefined;
    }
    node = next;
  }
  return node;
}
