import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  appendFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UploadJournal, type JournalFile, type JournalJob } from '../src/domain/upload-journal.js';

let folder: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'dlaas-journal-'));
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

/** A running job of `count` waiting files. */
function job(count: number): JournalJob {
  return {
    version: 1,
    id: UploadJournal.newId(),
    instance: 'lake',
    account: 'alice',
    scope: 'user.alice',
    dataset: 'results',
    rse: 'SCRATCH',
    lifetimeSeconds: null,
    metadata: {},
    createdAt: new Date(0).toISOString(),
    state: 'running',
    finishedAt: null,
    error: null,
    newDataset: true,
    datasetReady: false,
    skipped: [],
    files: Array.from({ length: count }, (_, i): JournalFile => ({
      path: `/home/alice/f${i}`,
      name: `results/f${i}`,
      bytes: i,
      phase: 'waiting',
      pfn: null,
      adler32: null,
      md5: null,
      error: null,
      cancelled: false
    }))
  };
}

/** A saved job of 10 files whose first one went to `phase` (a line in the log). */
function firstFileLogged(phase: JournalFile['phase']): {
  journal: UploadJournal;
  saved: JournalJob;
  first: JournalFile;
} {
  const journal = new UploadJournal(folder);
  const saved = job(10);
  journal.save(saved);
  const first = saved.files[0] as JournalFile;
  first.phase = phase;
  journal.saveFiles(saved, [first]);
  return { journal, saved, first };
}

const snapshotOf = (j: JournalJob): JournalJob =>
  JSON.parse(readFileSync(join(folder, `${j.id}.json`), 'utf8')) as JournalJob;

describe('the upload journal', () => {
  it('when files of a saved job change, then each change is a line appended to its log, not the job written again, and a restart reads the job as it stands', () => {
    const journal = new UploadJournal(folder);
    const saved = job(100);
    journal.save(saved);
    const files = saved.files;
    for (const file of files.slice(0, 10)) {
      file.phase = 'uploading';
      file.pfn = `https://storage/${file.name}`;
      journal.saveFiles(saved, [file]);
      file.phase = 'uploaded';
      file.adler32 = '0000abcd';
      journal.saveFiles(saved, [file]);
    }
    // The snapshot is the one written first; the log holds the 20 changes.
    expect(snapshotOf(saved).files.every(f => f.phase === 'waiting')).toBe(true);
    const log = readFileSync(join(folder, `${saved.id}.log`), 'utf8')
      .trim()
      .split('\n');
    expect(log).toHaveLength(20);
    expect(statSync(join(folder, `${saved.id}.log`)).mode & 0o777).toBe(0o600);

    const [loaded] = new UploadJournal(folder).load();
    expect(loaded?.files.slice(0, 10).map(f => [f.phase, f.adler32])).toEqual(
      Array.from({ length: 10 }, () => ['uploaded', '0000abcd'])
    );
    expect(loaded?.files[10]?.phase).toBe('waiting');
  });

  it('when the log grows longer than the job, then it is folded into a new snapshot', () => {
    const journal = new UploadJournal(folder);
    const saved = job(100);
    journal.save(saved);
    for (const file of saved.files) {
      file.phase = 'done';
      journal.saveFiles(saved, [file]);
    }
    for (const file of saved.files.slice(0, 5)) {
      file.error = 'changed again';
      journal.saveFiles(saved, [file]);
    }
    const lines = readFileSync(join(folder, `${saved.id}.log`), 'utf8')
      .trim()
      .split('\n');
    expect(lines.length).toBeLessThanOrEqual(100);
    expect(snapshotOf(saved).files.filter(f => f.phase === 'done').length).toBeGreaterThan(0);
    const [loaded] = new UploadJournal(folder).load();
    expect(loaded?.files.every(f => f.phase === 'done')).toBe(true);
    expect(loaded?.files.slice(0, 5).every(f => f.error === 'changed again')).toBe(true);
  });

  it('when the companion was killed while appending, then the cut line is left out and the lines before it count', () => {
    const { saved } = firstFileLogged('uploaded');
    appendFileSync(join(folder, `${saved.id}.log`), '{"seq":2,"i":1,"file":{"path":"/home/al');
    const [loaded] = new UploadJournal(folder).load();
    expect(loaded?.files[0]?.phase).toBe('uploaded');
    expect(loaded?.files[1]?.phase).toBe('waiting');
  });

  it('when a log outlived the snapshot that holds its changes, then its lines do not undo what the snapshot says', () => {
    const { journal, saved, first } = firstFileLogged('uploading');
    const stale = readFileSync(join(folder, `${saved.id}.log`), 'utf8');
    first.phase = 'done';
    journal.save(saved);
    // As if the companion died between the snapshot's rename and the log's removal.
    writeFileSync(join(folder, `${saved.id}.log`), stale);
    const [loaded] = new UploadJournal(folder).load();
    expect(loaded?.files[0]?.phase).toBe('done');
  });
});
