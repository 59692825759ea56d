import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Adler32 } from '../src/adler32.js';
import { ChecksumThread, FileLengthChanged } from '../src/checksum-thread.js';
import { AppError } from '../src/errors.js';

/** The checksum thread of uploads against files it reads from a temporary folder. */

let work: string;
const thread = new ChecksumThread();

function file(name: string, bytes: Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, bytes);
  return path;
}

function reference(bytes: Uint8Array): { adler32: string; md5: string } {
  return {
    adler32: new Adler32().update(bytes).hex(),
    md5: createHash('md5').update(bytes).digest('hex')
  };
}

/** CPU time (ms) of this process, all threads, while `during` runs. */
async function cpuMs(during: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await during();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dlaas-checksum-thread-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('ChecksumThread', () => {
  it('when files of 0, 1 and 5 MiB and 3 bytes are summed, then the sums are those of node:crypto and Adler32', async () => {
    expect(await thread.ready()).toBe(true);
    for (const size of [0, 1, 5 * 1024 * 1024 + 3]) {
      const bytes = randomBytes(size);
      const sums = await thread.sum(file(`f${size}`, bytes), size, new AbortController().signal)
        .result;
      expect(sums, `${size} bytes`).toEqual(reference(bytes));
    }
  });

  it('when a job asks for MD5 only, then it answers MD5 and an empty Adler-32', async () => {
    expect(await thread.ready()).toBe(true);
    const bytes = randomBytes(2 * 1024 * 1024 + 5);
    const sums = await thread.sum(
      file('md5-only', bytes),
      bytes.length,
      new AbortController().signal,
      'md5'
    ).result;
    expect(sums).toEqual({ adler32: '', md5: reference(bytes).md5 });
  });

  it('when bytes are handed over in pieces, then the stream gives the Adler-32 of them all, and each piece of memory of its own moves to the thread', async () => {
    expect(await thread.ready()).toBe(true);
    const bytes = randomBytes(3 * 1024 * 1024 + 11);
    const own = Buffer.from(bytes.subarray(0, 2 * 1024 * 1024));
    const view = bytes.subarray(2 * 1024 * 1024, 3 * 1024 * 1024);
    const small = Buffer.from(bytes.subarray(3 * 1024 * 1024));
    const stream = thread.adlerStream('pieces');
    for (const piece of [own, view, small]) {
      stream.add(piece);
    }
    expect(await stream.end()).toBe(new Adler32().update(bytes).hex());
    // The piece with memory of its own was moved, not copied; the view of a larger buffer and
    // the small piece (Node's shared pool) were copied and are as they were.
    expect(own.length).toBe(0);
    expect(view.length).toBe(1024 * 1024);
    expect(small.length).toBe(11);

    const dropped = thread.adlerStream('dropped');
    dropped.add(Buffer.from(randomBytes(10)));
    dropped.cancel();
    await expect(dropped.end()).rejects.toThrow('cancelled');
  });

  it('when several files are summed at once, then each gets its own sums', async () => {
    const files = [3 * 1024 * 1024 + 1, 2 * 1024 * 1024 + 7, 1, 4 * 1024 * 1024 + 5].map(
      (size, index) => {
        const bytes = randomBytes(size);
        return { bytes, path: file(`several${index}`, bytes) };
      }
    );
    const sums = await Promise.all(
      files.map(f => thread.sum(f.path, f.bytes.length, new AbortController().signal).result)
    );
    expect(sums).toEqual(files.map(f => reference(f.bytes)));
  });

  it('when a file is shorter or longer than its size, then the job fails with FileLengthChanged', async () => {
    const bytes = randomBytes(1000);
    const path = file('short', bytes);
    const never = new AbortController().signal;
    await expect(thread.sum(path, 1001, never).result).rejects.toBeInstanceOf(FileLengthChanged);
    await expect(thread.sum(path, 999, never).result).rejects.toBeInstanceOf(FileLengthChanged);
    await expect(thread.sum(path, 1000, never).result).resolves.toEqual(reference(bytes));
  });

  it('when a file cannot be read, then the job fails with a sentence that says so', async () => {
    const result = thread.sum(join(work, 'missing'), 10, new AbortController().signal).result;
    await expect(result).rejects.toBeInstanceOf(AppError);
    await expect(result).rejects.toThrow(/missing could not be read to compute its checksums/);
  });

  it('when a job is aborted, then it fails at once with the reason and the thread stops reading', async () => {
    // 1 GiB of zeros (sparse): some 2 s of MD5, far more than the test waits.
    const path = join(work, 'large');
    writeFileSync(path, '');
    truncateSync(path, 1024 * 1024 * 1024);
    const controller = new AbortController();
    const job = thread.sum(path, 1024 * 1024 * 1024, controller.signal);
    const busy = await cpuMs(() => sleep(300));
    const abortedAt = performance.now();
    controller.abort(new Error('the user cancelled'));
    await expect(job.result).rejects.toThrow('the user cancelled');
    expect(performance.now() - abortedAt).toBeLessThan(100);
    const after = await cpuMs(() => sleep(300));
    // Summing takes most of a core: the same time after the abort is nearly idle.
    expect(busy).toBeGreaterThan(100);
    expect(after).toBeLessThan(busy / 3);
    // The thread still serves the next job.
    const bytes = randomBytes(100);
    await expect(
      thread.sum(file('next', bytes), 100, new AbortController().signal).result
    ).resolves.toEqual(reference(bytes));
  });

  it('when a job is cancelled, then it fails and its sums never come', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const job = thread.sum(file('cancelled', bytes), bytes.length, new AbortController().signal);
    job.cancel();
    await expect(job.result).rejects.toThrow('cancelled');
  });

  it('when no thread can start, then ready says so and one log line tells why', async () => {
    const written = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const limited = new ChecksumThread(() => {
        throw new Error('ERR_WORKER_INIT_FAILED: EAGAIN');
      });
      expect(await limited.ready()).toBe(false);
      expect(await limited.ready()).toBe(false);
      const lines = written.mock.calls.map(call => String(call[0]));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/no checksum thread could start.*EAGAIN/);
    } finally {
      written.mockRestore();
    }
  });

  it('when the thread stops with a job under way, then the job fails with a sentence and the next one starts a new thread', async () => {
    const sources: string[] = [];
    const crashing = new ChecksumThread(source => {
      sources.push(source);
      // The first thread ends as its first job comes; the next one is the real thread.
      return sources.length === 1
        ? new Worker(
            "require('node:worker_threads').parentPort.once('message', () => process.exit(3))",
            { eval: true }
          )
        : new Worker(source, { eval: true });
    });
    const bytes = randomBytes(1000);
    const path = file('crash', bytes);
    expect(await crashing.ready()).toBe(true);
    const lost = crashing.sum(path, 1000, new AbortController().signal).result;
    await expect(lost).rejects.toBeInstanceOf(AppError);
    await expect(lost).rejects.toThrow(
      `The checksums of ${path} could not be computed: the companion's checksum thread stopped (it ended with code 3). Retry the upload`
    );
    expect(await crashing.ready()).toBe(true);
    await expect(crashing.sum(path, 1000, new AbortController().signal).result).resolves.toEqual(
      reference(bytes)
    );
    expect(sources).toHaveLength(2);
  });

  it('when the thread stops under a download stream, then its sentence says to retry the download', async () => {
    const crashing = new ChecksumThread(
      () =>
        new Worker(
          "require('node:worker_threads').parentPort.once('message', () => process.exit(3))",
          { eval: true }
        )
    );
    expect(await crashing.ready()).toBe(true);
    const stream = crashing.adlerStream('/home/x/file.part');
    await expect(stream.end()).rejects.toThrow(
      "The checksums of /home/x/file.part could not be computed: the companion's checksum thread stopped (it ended with code 3). Retry the download: the bytes on disk are kept; if it persists, tell the hub's admins."
    );
  });

  it('when the thread has summed a file, then it does not keep the process alive', () => {
    const path = file('alive', randomBytes(1000));
    const source = [
      `import { ChecksumThread } from ${JSON.stringify(join(import.meta.dirname, '../src/checksum-thread.ts'))};`,
      'const keep = setInterval(() => undefined, 1000);',
      'const thread = new ChecksumThread();',
      'await thread.ready();',
      `const sums = await thread.sum(${JSON.stringify(path)}, 1000, new AbortController().signal).result;`,
      'console.log(sums.md5);',
      'clearInterval(keep);'
    ].join('\n');
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', source],
      { encoding: 'utf8', timeout: 10_000, cwd: import.meta.dirname }
    );
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toMatch(/^[0-9a-f]{32}$/);
  });
});
