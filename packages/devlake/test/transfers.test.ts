import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adler32 } from '../src/adler32.js';
import { jobState, type TransferFile } from '../src/transfers/jobs.js';
import { TransferService } from '../src/transfers/service.js';

/** A tiny storage endpoint: GET serves what was PUT. */
function storage(): { server: Server; files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        files.set(path, Buffer.concat(chunks));
        res.writeHead(201).end();
      });
      return;
    }
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  return { server, files };
}

const listen = (server: Server): Promise<string> =>
  new Promise(resolvePromise =>
    server.listen(0, '127.0.0.1', () =>
      resolvePromise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    )
  );

let service: TransferService;
let fts: string;
const source = storage();
const destination = storage();
let sourceUrl: string;
let destinationUrl: string;

beforeAll(async () => {
  sourceUrl = await listen(source.server);
  destinationUrl = await listen(destination.server);
  service = new TransferService({ defaultFailures: ['broken'] });
  await service.listen(0);
  fts = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await service.close();
  source.server.close();
  destination.server.close();
});

async function submit(files: { name: string; checksum?: string | null }[]): Promise<string> {
  const response = await fetch(`${fts}/jobs`, {
    method: 'POST',
    body: JSON.stringify({
      files: files.map(f => ({
        sources: [`${sourceUrl}/${f.name}`],
        destinations: [`${destinationUrl}/${f.name}`],
        metadata: { request_id: `req-${f.name}`, scope: 'demo', name: f.name },
        checksum: f.checksum ?? null,
        filesize: 10
      })),
      params: { job_metadata: { issuer: 'rucio' } }
    })
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { job_id: string }).job_id;
}

interface JobAnswer {
  job_id: string;
  http_status: string;
  job_state: string;
  job_metadata: Record<string, unknown>;
  files: (TransferFile & Record<string, unknown>)[];
}

async function finished(jobId: string): Promise<JobAnswer> {
  for (let i = 0; i < 100; i++) {
    const answer = (await (
      await fetch(`${fts}/jobs/${jobId}?files=file_state,reason`)
    ).json()) as JobAnswer;
    if (!['SUBMITTED', 'ACTIVE'].includes(answer.job_state)) {
      return answer;
    }
    await sleep(20);
  }
  throw new Error(`job ${jobId} did not finish`);
}

describe('transfer service (FTS3 subset)', () => {
  it('when a job is submitted, then the bytes are copied and the job reports FINISHED with FTS3 time keys', async () => {
    source.files.set('/a.dat', Buffer.from('0123456789'));
    const job = await finished(
      await submit([{ name: 'a.dat', checksum: `ADLER32:${adler32(Buffer.from('0123456789'))}` }])
    );
    expect(job.job_state).toBe('FINISHED');
    expect(job.http_status).toBe('200 Ok');
    expect(job.job_metadata).toEqual({ issuer: 'rucio' });
    const file = job.files[0] as JobAnswer['files'][number];
    expect(file.file_state).toBe('FINISHED');
    expect(file.file_metadata).toEqual({ request_id: 'req-a.dat', scope: 'demo', name: 'a.dat' });
    expect(file.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(file.finish_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(file).toHaveProperty('staging_start', null);
    expect(file).toHaveProperty('staging_finished', null);
    expect(destination.files.get('/a.dat')?.toString()).toBe('0123456789');
  });

  it('when the checksum does not match, then the file FAILED with a reason naming both sums', async () => {
    source.files.set('/b.dat', Buffer.from('abc'));
    const job = await finished(await submit([{ name: 'b.dat', checksum: 'ADLER32:00000001' }]));
    expect(job.job_state).toBe('FAILED');
    expect(job.files[0]?.reason).toMatch(/checksum mismatch.*00000001.*024d0127/);
  });

  it('when a DID matches a failure pattern, then its transfer fails with that reason and others still copy', async () => {
    source.files.set('/broken.dat', Buffer.from('x'));
    source.files.set('/fine.dat', Buffer.from('y'));
    const job = await finished(await submit([{ name: 'broken.dat' }, { name: 'fine.dat' }]));
    expect(job.job_state).toBe('FINISHEDDIRTY');
    expect(job.files.map(f => f.file_state)).toEqual(['FAILED', 'FINISHED']);
    expect(job.files[0]?.reason).toMatch(/told to fail transfers matching \/broken\//);
  });

  it('when the source is missing, then the reason says what the source answered', async () => {
    const job = await finished(await submit([{ name: 'missing.dat' }]));
    expect(job.files[0]?.reason).toMatch(/SOURCE \[404\]/);
  });

  it('when the failure patterns are replaced, then GET shows them and a bad pattern is refused with 400', async () => {
    const put = await fetch(`${fts}/devlake/failures`, {
      method: 'PUT',
      body: JSON.stringify({ patterns: ['nope'] })
    });
    expect(await put.json()).toEqual({ patterns: ['nope'] });
    const bad = await fetch(`${fts}/devlake/failures`, {
      method: 'PUT',
      body: JSON.stringify({ patterns: ['('] })
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/Not a regular expression/);
    expect(await (await fetch(`${fts}/devlake/failures`)).json()).toEqual({ patterns: ['nope'] });
    await fetch(`${fts}/devlake/failures`, {
      method: 'PUT',
      body: JSON.stringify({ patterns: ['broken'] })
    });
  });

  it('when several ids are queried and one is unknown, then the answer is 207 with a 404 entry for it', async () => {
    source.files.set('/c.dat', Buffer.from('c'));
    const known = await submit([{ name: 'c.dat' }]);
    const response = await fetch(`${fts}/jobs/${known},no-such-job?files=file_state`);
    expect(response.status).toBe(207);
    const body = (await response.json()) as JobAnswer[];
    expect(body.map(j => j.http_status)).toEqual(['200 Ok', '404 Not Found']);
  });

  it('when a submission is not a job, then it gets a 400 with a sentence', async () => {
    for (const body of [
      'not json',
      '{}',
      JSON.stringify({ files: [{ sources: ['file:///etc/passwd'], destinations: ['http://x/y'] }] })
    ]) {
      const response = await fetch(`${fts}/jobs`, { method: 'POST', body });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(/\.$/);
    }
  });
});

describe('jobState', () => {
  const file = (file_state: TransferFile['file_state']): TransferFile =>
    ({ file_state }) as TransferFile;
  it('when files are in mixed states, then the job state follows FTS3', () => {
    expect(jobState([file('SUBMITTED'), file('FINISHED')])).toBe('ACTIVE');
    expect(jobState([file('FINISHED'), file('FINISHED')])).toBe('FINISHED');
    expect(jobState([file('FAILED'), file('FINISHED')])).toBe('FINISHEDDIRTY');
    expect(jobState([file('FAILED'), file('CANCELED')])).toBe('FAILED');
    expect(jobState([file('SUBMITTED')])).toBe('SUBMITTED');
  });
});
