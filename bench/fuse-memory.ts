/**
 * One file served from memory by fuse-native, with the companion's mount options, each read
 * answered at once by a copy out of shared memory: what any file system on fuse-native can read at
 * best on this machine, the ceiling bench:fuse compares the data lake folder with.
 *
 *   tsx bench/fuse-memory.ts DIR BYTES      (mounts DIR/file, BYTES long; unmounts on SIGTERM)
 */
import { createRequire } from 'node:module';
import { fuseOptions, type FuseClass } from '../packages/companion/src/fuse/mount.js';

const [dir, size] = [process.argv[2], Number(process.argv[3])];
if (!dir || !Number.isSafeInteger(size) || size <= 0) {
  throw new Error('usage: tsx bench/fuse-memory.ts DIR BYTES');
}
const Fuse = createRequire(import.meta.url)('fuse-native') as FuseClass;
/** What reads copy from, at rotating places, as the companion copies from its segments. */
const source = Buffer.from(new SharedArrayBuffer(64 * 1024 * 1024)).fill(7);
const ENOENT = -2;
type Done = (result: number, ...values: unknown[]) => void;
const now = new Date();
const attributes = (mode: number, bytes: number): Record<string, unknown> => ({
  mtime: now,
  atime: now,
  ctime: now,
  nlink: 1,
  size: bytes,
  mode,
  uid: process.getuid?.() ?? 0,
  gid: process.getgid?.() ?? 0
});
const fuse = new Fuse(
  dir,
  {
    readdir: (_path: string, done: Done) => done(0, ['file']),
    getattr: (path: string, done: Done) =>
      path === '/'
        ? done(0, attributes(0o40555, 4096))
        : path === '/file'
          ? done(0, attributes(0o100444, size))
          : done(ENOENT),
    open: (_path: string, _flags: number, done: Done) => done(0, 1),
    release: (_path: string, _fd: number, done: Done) => done(0),
    read: (
      _path: string,
      _fd: number,
      target: Buffer,
      length: number,
      position: number,
      done: Done
    ) => {
      const count = Math.max(0, Math.min(length, size - position));
      const from = position % (source.length - length);
      source.copy(target, 0, from, from + count);
      done(count);
    }
  },
  fuseOptions('dlaas-bench-memory')
);
fuse.mount(error => {
  if (error) {
    process.stderr.write(`mounting ${dir} failed: ${error.message}\n`);
    process.exit(1);
  }
});
process.once('SIGTERM', () => fuse.unmount(() => process.exit(0)));
