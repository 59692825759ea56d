import { accessSync, constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import { dirname, join } from 'node:path';
import type { DidRef } from '../did.js';
import { didString } from '../did.js';
import { log } from '../log.js';
import type { LocalPathSource, PathResolver } from '../domain/paths.js';
import type { RucioClient } from '../rucio/client.js';
import { ScratchCatalogue } from './catalogue.js';
import { EIO, SharedBufferPool, StorageError, StorageReader } from './storage.js';
import { READ_AHEAD, ReadAhead } from './readahead.js';
import { buildTree, lookup, type MountTree, type MountedFile, type TreeNode } from './tree.js';

/** errno values (negative, as FUSE wants them). */
const ENOENT = -2;
const EBADF = -9;
const EROFS = -30;
const ENODATA = -61;
const EISDIR = -21;

/** What fuse-native's operations get and give. */
type Done = (result: number, ...values: unknown[]) => void;

/** The part of fuse-native's `Fuse` class the mount uses. */
interface FuseInstance {
  mount(cb: (error: Error | null) => void): void;
  unmount(cb: (error: Error | null) => void): void;
}

export interface FuseClass {
  new (
    mountPoint: string,
    ops: Record<string, unknown>,
    options: Record<string, unknown>
  ): FuseInstance;
  unmount(mountPoint: string, cb: (error: Error | null) => void): void;
}

/** Options of {@link ScratchMount}. */
export interface ScratchMountOptions {
  readonly mountPoint: string;
  /** A storage that sends nothing for this long fails a read with EIO. */
  readonly readTimeoutMs: number;
  /** How often the user's rules are read again to see rules removed elsewhere. */
  readonly refreshIntervalMs: number;
}

/**
 * Seconds the kernel keeps names and attributes. Rucio files never change, so only a removed
 * file's name can be stale: `ls` (which the kernel does not cache) no longer shows it at once,
 * and opening it says ENOENT; a `stat` by name may still answer for this long. Long enough that
 * a second `ls -l` of 100,000 files (15 s the first time) asks nothing.
 */
const KERNEL_CACHE_SECONDS = 60;

/** When after a full collection two more run (see {@link collectGarbage}). */
const LATER_COLLECTIONS_MS = [1000, 2000];

/** Claims read in one refresh from which the garbage of reading them is collected at once. */
const LARGE_LISTING = 10_000;

/**
 * Questions about names (attributes, extended attributes, folder lists) in one {@link QUIET_MS}
 * after which, once the folder is quiet, the garbage of answering them is collected. `ls -l` of
 * 100,000 files leaves about 17 MB of it in V8's heap, which V8 keeps until its own limits.
 */
const MANY_QUESTIONS = 10_000;

/** How long the folder must be asked nothing about names before that collection. */
const QUIET_MS = 2000;

/**
 * A full garbage collection, where V8 allows it. Reading a large dataset's replicas from Rucio
 * leaves hundreds of MB of parsed lines behind, which V8 keeps until its heap nears a limit made
 * for the whole machine (the tree of 100,000 files lives in under 256 MB, yet the companion held
 * 836 MB); collecting once after such a reading gives it back. The pause (a few hundred ms for such
 * a heap) happens once per large listing, not per read.
 */
const collectGarbage: () => void = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') {
      return () => undefined;
    }
    return () => {
      (gc as () => void)();
      // Collections once the first one's sweeping is over give the pages it emptied back to the
      // system: a process that had built a 100,000-file tree stayed at 204 MB after one, was at
      // 160 MB after a second a second later, and at 153 MB after a third.
      for (const after of LATER_COLLECTIONS_MS) {
        setTimeout(() => (gc as () => void)(), after).unref();
      }
    };
  } catch {
    return () => undefined;
  }
})();

/**
 * fuse-native's options of the folder, named `fsname` in the mount table (also those of
 * bench:fuse's in-memory ceiling, so that it measures the same kind of mount).
 */
export function fuseOptions(fsname: string): Record<string, unknown> {
  return {
    force: true,
    mkdir: true,
    autoUnmount: true,
    kernelCache: true,
    entryTimeout: KERNEL_CACHE_SECONDS,
    attrTimeout: KERNEL_CACHE_SECONDS,
    // fuse-native passes only the options it knows; `ro` (the kernel itself refuses writes, and
    // mount and statvfs say read-only) rides along in the -o list after the file system name.
    fsname: `${fsname},ro`,
    // Reads end by themselves (EIO after the storage timeout); fuse-native's own timer is off.
    timeout: false
  };
}

/** How long the companion's start waits for the folder's first filling. */
const FIRST_FILL_MS = 10_000;

/** Loads fuse-native, or says why it cannot be. */
function loadFuse(): FuseClass {
  const require = createRequire(import.meta.url);
  return require('fuse-native') as FuseClass;
}

/**
 * Why the folder cannot be mounted here, as a sentence that says what an admin can do, or null
 * when nothing stands in the way.
 */
export function mountObstacle(mountPoint: string): string | null {
  if (process.platform !== 'linux') {
    return `the companion mounts folders only on Linux, and this is ${process.platform}.`;
  }
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? "/dev/fuse does not exist in this container. An admin can give user servers the FUSE device (privileged with SYS_ADMIN, or a FUSE device plugin; see the Helm chart's dlaas.fuse.mode)."
      : `this user may not open /dev/fuse (${code ?? 'refused'}). An admin can make it readable and writable for user servers.`;
  }
  if (!onPath('fusermount')) {
    return 'fusermount is not installed. An admin can install the Debian/Ubuntu package "fuse" (FUSE 2; "fuse3" replaces it and does not provide fusermount).';
  }
  try {
    loadFuse();
  } catch (error) {
    const message = (error as Error).message;
    return /libfuse\.so/.test(message)
      ? 'the FUSE library libfuse.so.2 is not installed. An admin can install the Debian/Ubuntu package "libfuse2".'
      : `the FUSE module could not be loaded (${message.split('\n')[0]}).`;
  }
  let stat;
  try {
    stat = statSync(mountPoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN') {
      return null; // A mount left by a companion that was killed: mounting again clears it.
    }
    if (code !== 'ENOENT') {
      return `${mountPoint} cannot be used (${code ?? 'error'}).`;
    }
    try {
      mkdirSync(mountPoint, { recursive: true });
    } catch (mkdirError) {
      return `${mountPoint} could not be created (${(mkdirError as NodeJS.ErrnoException).code ?? 'error'}); choose another "paths.mountPoint".`;
    }
    return null;
  }
  if (!stat.isDirectory()) {
    return `${mountPoint} exists and is not a folder; move it away or choose another "paths.mountPoint".`;
  }
  if (stat.dev !== statSync(dirname(mountPoint)).dev) {
    return `something is mounted at ${mountPoint} already (another JupyterLab of yours?); stop it, or choose another "paths.mountPoint".`;
  }
  if (readdirSync(mountPoint).length > 0) {
    return `${mountPoint} is not empty; move its files away, or choose another "paths.mountPoint".`;
  }
  return null;
}

function onPath(program: string): boolean {
  return (process.env['PATH'] ?? '')
    .split(':')
    .filter(Boolean)
    .some(dir => {
      try {
        accessSync(join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** A node's attributes as fuse-native takes them (times in milliseconds since the epoch). */
interface Attributes {
  mode: number;
  size: number;
  nlink: number;
  blksize: number;
  blocks: number;
  uid: number;
  gid: number;
  mtime: number;
  atime: number;
  ctime: number;
}

/** An open file of the mount. */
interface Handle {
  readonly file: MountedFile;
  readonly reads: ReadAhead;
}

/**
 * The scratch RSE as a read-only folder (FUSE, fuse-native): `<mount>/<scope>/<collection>/…/<file>`
 * for every DID the user made available (see {@link buildTree} for names), files appearing as
 * their replicas on the scratch RSE become available and vanishing with their rule. Sizes, times
 * and checksums (extended attributes `user.rucio.adler32`, `user.rucio.md5`, `user.rucio.did`)
 * come from Rucio; bytes are read from the scratch replica's PFN with range requests and
 * read-ahead; the kernel keeps pages (Rucio files never change). Every write is EROFS.
 */
export class ScratchMount implements LocalPathSource {
  private tree: MountTree = buildTree([]);
  private fuse: FuseInstance | undefined;
  private readonly catalogue: ScratchCatalogue;
  private readonly storage: StorageReader;
  private readonly handles = new Map<number, Handle>();
  /**
   * Segment memory shared by the open files: 16 chunks (32 MiB), growing to 24 (48 MiB) while
   * many files are read at once (8 sequential readers hold about 20); read-ahead beyond one chunk
   * per file stops while 8 are out (8 readers together hold little more than 2 would alone).
   */
  private readonly memory = new SharedBufferPool(READ_AHEAD.chunk, 16, 8, 24);
  /**
   * The attributes answered last. fuse-native turns them into its own array before the callback
   * returns, so one object serves every call: `ls -l` of 100,000 files makes no object per file,
   * and the tree keeps none (a cached object per node took 17 MB for 100,000 files).
   */
  private readonly attributes: Attributes = {
    mode: 0,
    size: 0,
    nlink: 1,
    blksize: 0,
    blocks: 0,
    uid: 0,
    gid: 0,
    mtime: 0,
    atime: 0,
    ctime: 0
  };
  /** Callers of {@link prepare} waiting for the next tree. */
  private readonly waiters = new Set<(changed: boolean) => void>();
  private nextHandle = 1;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  /** Questions about names since the last look (see {@link MANY_QUESTIONS}). */
  private questions = 0;
  /** Whether many were asked since the last collection. */
  private manyAsked = false;
  private quietTimer: NodeJS.Timeout | undefined;
  /** Why the folder is not mounted, when it is not. */
  problem: string | null = null;

  constructor(
    private readonly rucio: RucioClient,
    private readonly options: ScratchMountOptions,
    /** Where paths come from while the folder is not mounted (prefix mappings, or none). */
    private readonly fallback: PathResolver
  ) {
    this.catalogue = new ScratchCatalogue(rucio);
    this.storage = new StorageReader(rucio.instance, rucio.credentials, options.readTimeoutMs);
  }

  /** Where the folder is. */
  get mountPoint(): string {
    return this.options.mountPoint;
  }

  /** Whether the folder is mounted. */
  get mounted(): boolean {
    return this.fuse !== undefined;
  }

  /**
   * Mounts the folder (clearing a stale mount a killed companion left), then reads what the user
   * made available, waiting for it at most {@link FIRST_FILL_MS}. Never throws: when the folder
   * cannot be mounted, {@link problem} says why.
   */
  async start(): Promise<void> {
    const obstacle = mountObstacle(this.mountPoint);
    if (obstacle !== null) {
      this.fail(obstacle);
      return;
    }
    const Fuse = loadFuse();
    const fuse = new Fuse(
      this.mountPoint,
      this.operations(),
      fuseOptions(`dlaas-${this.rucio.instance.name}`)
    );
    const error = await new Promise<Error | null>(resolvePromise => fuse.mount(resolvePromise));
    if (error) {
      this.fail(`mounting failed: ${error.message}.`);
      return;
    }
    this.fuse = fuse;
    log('info', 'data lake folder mounted', {
      instance: this.rucio.instance.name,
      mountPoint: this.mountPoint
    });
    // Awaited for a while, so that a Jupyter server that waits for the companion finds the folder
    // filled (a notebook run headless at start reads its files); not longer, since a lake with
    // many files made available takes a while to list and the companion must answer (the
    // Jupyter server extension and jupyter-server-proxy wait 30 s at most).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refresh(),
      new Promise<void>(resolvePromise => {
        timer = setTimeout(resolvePromise, FIRST_FILL_MS);
      })
    ]);
    clearTimeout(timer);
  }

  private fail(reason: string): void {
    this.problem = `The data lake folder ${this.mountPoint} could not be mounted: ${reason}`;
    log('warn', 'data lake folder not mounted', {
      instance: this.rucio.instance.name,
      reason: this.problem
    });
  }

  /**
   * Reads the user's made-available DIDs again and replaces the tree; calls made while a read
   * runs share one more read after it. A failure (not signed in, Rucio unreachable) keeps the
   * tree as it was and is tried again at the next refresh.
   */
  refresh(): Promise<void> {
    if (!this.mounted) {
      // Nothing to show: paths come from the fallback, and Rucio is not asked for the folder.
      return Promise.resolve();
    }
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = async (): Promise<void> => {
      do {
        this.refreshAgain = false;
        try {
          const reading = await this.catalogue.read(partly => this.setTree(buildTree(partly)));
          const { nextExpiry, listed, changed } = reading;
          // What was listed is in the tree already (the last partial tree holds every claim);
          // rules that went need one more build; a reading that changed nothing needs none (nor
          // its claims, which are made only when asked for).
          if (changed && listed === 0) {
            this.setTree(buildTree(reading.claims));
          }
          if (listed >= LARGE_LISTING) {
            collectGarbage();
          }
          this.schedule(nextExpiry);
        } catch (error) {
          log('info', 'data lake folder not refreshed', {
            instance: this.rucio.instance.name,
            reason: error instanceof Error ? error.message : String(error)
          });
          this.schedule(null);
        }
      } while (this.refreshAgain && !this.stopped);
    };
    this.refreshing = run().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private schedule(nextExpiry: number | null): void {
    if (this.stopped) {
      return;
    }
    clearTimeout(this.timer);
    const interval = this.options.refreshIntervalMs;
    const untilExpiry =
      nextExpiry === null ? interval : Math.max(0, nextExpiry - Date.now()) + 1000;
    this.timer = setTimeout(() => void this.refresh(), Math.min(interval, untilExpiry));
    this.timer.unref();
  }

  /**
   * Makes sure the tree knows `did` (a file or a collection) as Rucio does now. When it does not
   * know it, reads the user's rules once more (a DID made available a moment ago) and resolves as
   * soon as the DID shows up, or when that reading ends without it. When it knows it but some
   * rule was listed while still under way, waits for one more reading, so that a collection whose
   * rule went OK a moment ago is not shown with the files it had then.
   */
  async prepare(did: DidRef): Promise<void> {
    if (!this.mounted) {
      return;
    }
    const key = didString(did);
    const known = (): boolean => this.tree.files.has(key) || this.tree.collections.has(key);
    if (known() && !this.catalogue.settling) {
      return;
    }
    // A reading that started before this call may have missed the DID; one more after it may not.
    const reading = this.refresh();
    if (known()) {
      await reading;
      return;
    }
    while (!known()) {
      const changed = new Promise<boolean>(resolvePromise => this.waiters.add(resolvePromise));
      if (!(await Promise.race([changed, reading.then(() => false)]))) {
        return;
      }
    }
  }

  /** Replaces the tree and wakes those waiting for a DID to show up in it. */
  private setTree(tree: MountTree): void {
    this.tree = tree;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) {
      wake(true);
    }
  }

  /**
   * The path in the folder of a file, preferring the one below `within` (the collection the user
   * asked about; a file may be in several); null when the file is not there. While the folder is
   * not mounted, the fallback's path.
   */
  localPath(file: DidRef, pfn: string | undefined, within: DidRef): string | null {
    if (!this.mounted) {
      return this.fallback.localPath(file, pfn);
    }
    const paths = this.tree.files.get(didString(file));
    if (!paths) {
      return null;
    }
    const folder = this.tree.collections.get(didString(within));
    const below = folder === undefined ? undefined : paths.find(p => p.startsWith(`${folder}/`));
    return this.mountPoint + (below ?? (paths[0] as string));
  }

  /** Unmounts the folder and stops refreshing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.quietTimer);
    const fuse = this.fuse;
    this.fuse = undefined;
    this.storage.dispose();
    if (fuse) {
      await new Promise<void>(resolvePromise =>
        fuse.unmount(error => {
          if (error) {
            log('warn', 'data lake folder not unmounted', {
              mountPoint: this.mountPoint,
              reason: error.message
            });
          }
          resolvePromise();
        })
      );
    }
  }

  /**
   * Unmounts at once, without waiting (for `process.on('exit')`, where nothing asynchronous runs);
   * `fusermount -uz` detaches the folder even while a program has a file open.
   */
  stopNow(): void {
    if (this.fuse) {
      this.fuse = undefined;
      try {
        execFileSync('fusermount', ['-uz', this.mountPoint], { stdio: 'ignore' });
      } catch {
        // Already gone; or fuse-native's auto-unmount helper will clear it.
      }
    }
  }

  private node(path: string): TreeNode | undefined {
    if (++this.questions === 1 && !this.quietTimer) {
      this.quietTimer = setInterval(() => this.collectWhenQuiet(), QUIET_MS);
      this.quietTimer.unref();
    }
    return lookup(this.tree, path);
  }

  /**
   * Every {@link QUIET_MS} while names are asked for: after many questions, once none came for a
   * while, one full collection gives back what answering them left in V8's heap.
   */
  private collectWhenQuiet(): void {
    if (this.questions >= MANY_QUESTIONS) {
      this.manyAsked = true;
    } else if (this.questions === 0) {
      clearInterval(this.quietTimer);
      this.quietTimer = undefined;
      if (this.manyAsked) {
        this.manyAsked = false;
        collectGarbage();
      }
    }
    this.questions = 0;
  }

  /**
   * A node's attributes as fuse-native takes them (times as milliseconds: fuse-native accepts
   * numbers, so `ls -l` of many files makes no Date objects), in {@link attributes}: valid until
   * the next call.
   */
  private stat(node: TreeNode): Attributes {
    const made = this.attributes;
    const file = node.kind === 'file' ? node.file : undefined;
    made.mode = file ? 0o100444 : 0o40555;
    made.size = file ? file.bytes : 4096;
    made.nlink = file ? 1 : 2;
    made.blksize = file ? 128 * 1024 : 0;
    made.blocks = file ? Math.ceil(file.bytes / 512) : 0;
    made.mtime = made.atime = made.ctime = node.kind === 'file' ? node.file.mtimeMs : node.mtimeMs;
    made.uid = this.uid;
    made.gid = this.gid;
    return made;
  }

  private xattrs(file: MountedFile): Record<string, string> {
    const values: Record<string, string> = { 'user.rucio.did': file.did };
    if (file.adler32) {
      values['user.rucio.adler32'] = file.adler32;
    }
    if (file.md5) {
      values['user.rucio.md5'] = file.md5;
    }
    return values;
  }

  /** The FUSE operations, callback style as fuse-native calls them. */
  private operations(): Record<string, unknown> {
    const readOnly = (...args: unknown[]): void => (args[args.length - 1] as Done)(EROFS);
    return {
      getattr: (path: string, done: Done) => {
        const node = this.node(path);
        return node ? done(0, this.stat(node)) : done(ENOENT);
      },
      fgetattr: (path: string, _fd: number, done: Done) => {
        const node = this.node(path);
        return node ? done(0, this.stat(node)) : done(ENOENT);
      },
      readdir: (path: string, done: Done) => {
        const node = this.node(path);
        if (!node) {
          return done(ENOENT);
        }
        return node.kind === 'folder' ? done(0, [...node.children.keys()]) : done(-20);
      },
      access: (path: string, mode: number, done: Done) => {
        if (!this.node(path)) {
          return done(ENOENT);
        }
        return done(mode & constants.W_OK ? EROFS : 0);
      },
      statfs: (_path: string, done: Done) =>
        done(0, {
          bsize: 4096,
          frsize: 4096,
          blocks: Math.ceil(this.tree.byteCount / 4096),
          bfree: 0,
          bavail: 0,
          files: this.tree.fileCount,
          ffree: 0,
          favail: 0,
          fsid: 0,
          flag: 1, // ST_RDONLY
          namemax: 255
        }),
      open: (path: string, flags: number, done: Done) => {
        const node = this.node(path);
        if (!node) {
          return done(ENOENT);
        }
        if (node.kind === 'folder') {
          return done(EISDIR);
        }
        if ((flags & 3) !== constants.O_RDONLY || flags & constants.O_TRUNC) {
          return done(EROFS);
        }
        const fd = this.nextHandle++;
        const { file } = node;
        this.handles.set(fd, {
          file,
          reads: new ReadAhead(
            file.bytes,
            (start, end, target, offset) => this.storage.read(file.pfn, start, end, target, offset),
            READ_AHEAD,
            this.memory
          )
        });
        return done(0, fd);
      },
      read: (
        _path: string,
        fd: number,
        buffer: Buffer,
        length: number,
        position: number,
        done: Done
      ) => {
        const handle = this.handles.get(fd);
        if (!handle) {
          return done(EBADF);
        }
        const count = handle.reads.read(buffer, length, position);
        if (typeof count === 'number') {
          return done(count);
        }
        count.then(
          bytes => done(bytes),
          (error: unknown) => {
            const errno = error instanceof StorageError ? error.errno : EIO;
            log('warn', 'read failed', {
              did: handle.file.did,
              reason: error instanceof Error ? error.message : String(error)
            });
            done(errno);
          }
        );
      },
      release: (_path: string, fd: number, done: Done) => {
        this.handles.get(fd)?.reads.close();
        this.handles.delete(fd);
        done(0);
      },
      getxattr: (path: string, name: string, _position: number, done: Done) => {
        const node = this.node(path);
        if (!node) {
          return done(ENOENT);
        }
        const value = node.kind === 'file' ? this.xattrs(node.file)[name] : undefined;
        return value === undefined ? done(ENODATA) : done(0, Buffer.from(value));
      },
      listxattr: (path: string, done: Done) => {
        const node = this.node(path);
        if (!node) {
          return done(ENOENT);
        }
        return done(0, node.kind === 'file' ? Object.keys(this.xattrs(node.file)) : []);
      },
      write: readOnly,
      create: readOnly,
      mknod: readOnly,
      mkdir: readOnly,
      unlink: readOnly,
      rmdir: readOnly,
      rename: readOnly,
      link: readOnly,
      symlink: readOnly,
      truncate: readOnly,
      ftruncate: readOnly,
      chmod: readOnly,
      chown: readOnly,
      utimens: readOnly,
      setxattr: readOnly,
      removexattr: readOnly
    };
  }
}
