import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtWheel, ensureLabVenv, installWheel, LAB_VENV } from '../../packages/lab/src/venv.js';
import { devlake, newDataset } from '../devlake/helpers.js';
import { run } from '../support/processes.js';

/**
 * `dlaas.lake`, the Python helper of the wheel, in plain Python scripts of the JupyterLab venv
 * with no Jupyter server around: each script starts a companion of its own (devlake's
 * configuration) and stops it when it exits.
 */

const LAB_PYTHON = join(LAB_VENV, 'bin', 'python');

/** What every script starts with: `out(...)` prints one `RESULT <json>` line. */
const PRELUDE = [
  'import json, os, sys, time, warnings, zlib',
  'from dlaas import lake',
  'def out(**values):',
  '    print("RESULT " + json.dumps(values), flush=True)'
];

let scratch: string;
/** The scripts' temporary directory, where their companions' private folders are made. */
let scriptTmp: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await ensureLabVenv();
  await installWheel(builtWheel());
  scratch = mkdtempSync(join(tmpdir(), 'dlaas-lake-'));
  scriptTmp = join(scratch, 'tmp');
  mkdirSync(scriptTmp);
  env = { ...process.env, DLAAS_CONFIG: devlake.companionConfig, TMPDIR: scriptTmp };
  delete env['DLAAS_COMPANION_SOCKET'];
});

afterAll(() => {
  if (scratch) {
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** A finished script, with what it printed as `RESULT <json>`. */
interface Script<T> {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly result: T;
}

/** Runs Python `lines` (after {@link PRELUDE}) in the lab venv, with `env` plus `extra`. */
async function python<T>(lines: string[], extra: NodeJS.ProcessEnv = {}): Promise<Script<T>> {
  const finished = await run(LAB_PYTHON, ['-c', [...PRELUDE, ...lines].join('\n')], {
    env: { ...env, ...extra },
    allowFailure: true
  });
  const line = /^RESULT (.*)$/m.exec(finished.stdout)?.[1];
  if (line === undefined) {
    throw new Error(
      `the script printed no result (exit ${finished.code}):\n${finished.stderr}${finished.stdout}`
    );
  }
  return { ...finished, result: JSON.parse(line) as T };
}

/** Whether a process runs (a zombie, with no command line, counts as gone). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
  } catch {
    return false;
  }
}

/** The companion a script started, as it printed it: gone, with its folder, once it exited. */
function expectCompanionGone(companion: { pid: number; folder: string }): void {
  expect(companion.pid).toBeGreaterThan(0);
  expect(running(companion.pid)).toBe(false);
  expect(readdirSync(scriptTmp).filter(name => name.startsWith('dlaas-'))).toEqual([]);
  expect(companion.folder.startsWith(scriptTmp + '/')).toBe(true);
}

/** The `out(...)` of the companion a script started. */
const OUT_COMPANION = 'companion={"pid": lake._own.pid, "folder": str(lake._own.folder)}';

describe('dlaas.lake in a Python script', () => {
  it('when a script searches with a wildcard and a metadata filter, then it gets only the matching dataset, as a table, and its companion is gone after it exits', async () => {
    const script = await python<{
      gamma: string[];
      both: { did: string; type: string }[];
      text: string;
      html: string;
      escaped: string;
      companion: { pid: number; folder: string };
    }>([
      'gamma = lake.search("cta:prod5*", type="dataset", particle="gamma")',
      'both = lake.search("cta:prod5*", type="dataset")',
      'escaped = lake.SearchResults([lake.Found("x:<b>&", "file", 1500)])._repr_html_()',
      `out(gamma=[f.did for f in gamma], both=[f._asdict() for f in both], text=str(both), html=both._repr_html_(), escaped=escaped, ${OUT_COMPANION})`
    ]);
    expect(script.code, script.stderr).toBe(0);
    const { result } = script;
    expect(result.gamma).toEqual(['cta:prod5.gamma_onSource']);
    expect(result.both).toEqual([
      expect.objectContaining({ did: 'cta:prod5.gamma_onSource', type: 'dataset' }),
      expect.objectContaining({ did: 'cta:prod5.proton', type: 'dataset' })
    ]);
    expect(result.text.split('\n')).toEqual([
      expect.stringMatching(/^DID\s+type\s+size$/),
      expect.stringMatching(/^cta:prod5\.gamma_onSource\s+dataset\s+825\.0 kB$/),
      expect.stringMatching(/^cta:prod5\.proton\s+dataset\s+585\.0 kB$/)
    ]);
    expect(result.html).toContain('<td>cta:prod5.gamma_onSource</td><td>dataset</td>');
    expect(result.escaped).toContain('<td>x:&lt;b&gt;&amp;</td><td>file</td><td>1.5 kB</td>');
    // The companion's log lines went to its own file, not into the script's output.
    expect(script.stdout + script.stderr).not.toContain('companion started');
    expectCompanionGone(result.companion);
  });

  it('when a script makes a new dataset available, then paths() said "not available" before, and make_available shows progress and returns paths whose files carry Rucio’s checksums; again, at once', async () => {
    const name = `lake-${randomBytes(4).toString('hex')}`;
    const did = `user.alice:${name}`;
    const checksums = await newDataset(name, 2);
    const script = await python<{
      before: { code: string; message: string };
      paths: string[];
      sums: string[];
      again: string[];
      againSeconds: number;
      companion: { pid: number; folder: string };
    }>([
      `did = ${JSON.stringify(did)}`,
      'try:',
      '    lake.paths(did)',
      '    before = None',
      'except lake.LakeError as error:',
      '    before = {"code": error.code, "message": str(error)}',
      'paths = lake.make_available(did, timeout=240)',
      'sums = ["%08x" % zlib.adler32(open(p, "rb").read()) for p in paths]',
      'started = time.monotonic()',
      'again = lake.make_available(did)',
      `out(before=before, paths=paths, sums=sums, again=again, againSeconds=time.monotonic() - started, ${OUT_COMPANION})`
    ]);
    expect(script.code, script.stderr).toBe(0);
    const { result } = script;
    expect(result.before).toEqual({
      code: 'not_available',
      message: `${did} is not available yet: make it available first: lake.make_available('${did}').`
    });
    // Each path ends in the file's name; its bytes have the checksum Rucio holds for that file.
    expect(result.paths).toHaveLength(2);
    const byName = Object.fromEntries(
      result.paths.map((path, i) => {
        const file = [...checksums.keys()].find(f => path.endsWith(`/${f}`)) ?? path;
        return [file, result.sums[i]];
      })
    );
    expect(byName).toEqual(Object.fromEntries(checksums));
    expect(script.stdout).toMatch(
      new RegExp(`${did.replace(/\./g, '\\.')}: 2 of 2 files available \\([0-9.]+ kB in all\\)`)
    );
    // Already available: the same paths, with no wait between polls.
    expect([...result.again].sort()).toEqual([...result.paths].sort());
    expect(result.againSeconds).toBeLessThan(1.5);
    expectCompanionGone(result.companion);
  });

  it('when a notebook runs headless (nbclient), then make_available shows its progress as one display, a search shows as an HTML table, and no companion is left', async () => {
    // A dataset made for the run, so that make_available waits for the copy, as it does on a
    // fresh lake (a dataset made available by an earlier test would answer at once).
    const name = `headless-${randomBytes(4).toString('hex')}`;
    await newDataset(name, 3);
    const notebook = join(scratch, 'lake.ipynb');
    const cell = (source: string): object => ({
      cell_type: 'code',
      metadata: {},
      source,
      outputs: [],
      execution_count: null
    });
    writeFileSync(
      notebook,
      JSON.stringify({
        cells: [
          cell(
            `from dlaas import lake\npaths = lake.make_available("user.alice:${name}")\nprint(len(paths), "paths")`
          ),
          cell('lake.search("cta:prod5*", type="dataset")')
        ],
        metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
        nbformat: 4,
        nbformat_minor: 5
      })
    );
    const executed = await run(join(LAB_VENV, 'bin', 'jupyter-execute'), ['--inplace', notebook], {
      env,
      allowFailure: true
    });
    expect(executed.code, executed.stderr).toBe(0);
    interface Output {
      output_type: string;
      data?: Record<string, string | string[]>;
      text?: string | string[];
    }
    const cells = (JSON.parse(readFileSync(notebook, 'utf8')) as { cells: { outputs: Output[] }[] })
      .cells;
    const text = (value: string | string[] | undefined): string => [value ?? ''].flat().join('');
    // Updated in place: one display, showing the last state; then what the cell printed.
    expect(
      cells[0]?.outputs.map(o => `${o.output_type}: ${text(o.data?.['text/plain'] ?? o.text)}`)
    ).toEqual([
      expect.stringMatching(
        new RegExp(
          `^display_data: user\\.alice:${name}: 3 of 3 files available( \\([0-9.]+ [kM]?B in all\\))?$`
        )
      ),
      'stream: 3 paths\n'
    ]);
    const table = cells[1]?.outputs.find(o => o.output_type === 'execute_result');
    expect(text(table?.data?.['text/html'])).toContain(
      '<td>cta:prod5.gamma_onSource</td><td>dataset</td><td>825.0 kB</td>'
    );
    expect(readdirSync(scriptTmp).filter(n => n.startsWith('dlaas-'))).toEqual([]);
  });

  it('when Rucio cannot copy a dataset, then make_available says first that it goes on in the background (timeout), then gives Rucio’s reason once the rule is stuck', async () => {
    // devlake fails every transfer of a file whose name matches /unreachable/.
    const name = `unreachable-lake-${randomBytes(4).toString('hex')}`;
    const did = `user.alice:${name}`;
    await newDataset(name, 1);
    const script = await python<{ waited: string; stuck: { code: string; message: string } }>([
      `did = ${JSON.stringify(did)}`,
      'try:',
      '    lake.make_available(did, timeout=1)',
      'except lake.LakeError as error:',
      '    waited = str(error)',
      'try:',
      '    lake.make_available(did, timeout=240)',
      'except lake.LakeError as error:',
      '    stuck = {"code": error.code, "message": str(error)}',
      'out(waited=waited, stuck=stuck)'
    ]);
    expect(script.code, script.stderr).toBe(0);
    expect(script.result.waited).toMatch(
      new RegExp(`^${did} is not available yet after 1 s \\(${did}: 0 of 1 files available`)
    );
    expect(script.result.waited).toContain(
      `It goes on being made available in the background: follow it in the Data Lake panel, or call lake.paths('${did}') later`
    );
    expect(script.result.stuck).toEqual({
      code: 'stuck',
      message: expect.stringContaining(
        `${did} could not be made available: RequestErrMsg.TRANSFER_FAILED:TRANSFER [5] devlake was told to fail transfers matching /unreachable/. Rucio tries stuck copies again`
      )
    });
  });

  it('when a script gives a bad pattern, then LakeError carries the companion’s sentence, with no chained traceback, also when uncaught', async () => {
    const caught = await python<{ code: string; message: string; chained: boolean }>([
      'try:',
      '    lake.search("cta")',
      'except lake.LakeError as error:',
      '    out(code=error.code, message=str(error), chained=error.__cause__ is not None or error.__context__ is not None)'
    ]);
    expect(caught.result).toEqual({
      code: 'bad_request',
      message: expect.stringMatching(/^"cta" is not a data identifier: write it as scope:name/),
      chained: false
    });

    const uncaught = await run(LAB_PYTHON, ['-c', 'from dlaas import lake\nlake.search("cta")'], {
      env,
      allowFailure: true
    });
    expect(uncaught.code).toBe(1);
    expect(uncaught.stderr.trim().split('\n').at(-1)).toMatch(
      /^dlaas\.lake\.LakeError: "cta" is not a data identifier: write it as scope:name/
    );
    expect(uncaught.stderr).not.toMatch(/During handling|http\.client|socket\./);
  });

  it('when no data lake is configured, its configuration is wrong, or the Jupyter server’s companion does not answer, then LakeError says what to do', async () => {
    const empty = join(scratch, 'empty.json');
    writeFileSync(empty, JSON.stringify({ instances: [] }));
    const lines = [
      'try:',
      '    lake.search("cta:*")',
      'except lake.LakeError as error:',
      '    out(code=error.code, message=str(error))'
    ];
    const none = await python<{ code: string; message: string }>(lines, { DLAAS_CONFIG: empty });
    expect(none.result).toEqual({
      code: 'not_configured',
      message: expect.stringMatching(/^No data lake is configured\. Set DLAAS_CONFIG/)
    });

    const broken = join(scratch, 'broken.json');
    writeFileSync(broken, JSON.stringify({ instances: 3 }));
    const wrong = await python<{ code: string; message: string }>(lines, { DLAAS_CONFIG: broken });
    expect(wrong.result).toEqual({
      code: 'unreachable',
      message: expect.stringContaining(
        `It said: In ${broken}, the key "instances" is wrong: Expected array. See the companion's README for the configuration format. Check its configuration`
      )
    });
    // The supervisor's own messages (a restart) stay out of the script's output.
    expect(wrong.stderr).toBe('');
    expect(readdirSync(scriptTmp).filter(n => n.startsWith('dlaas-'))).toEqual([]);

    const socket = join(scratch, 'gone', 'socket');
    const gone = await python<{ code: string; message: string }>(lines, {
      DLAAS_COMPANION_SOCKET: socket
    });
    expect(gone.result).toEqual({
      code: 'unreachable',
      message: expect.stringContaining(
        `The dlaas companion of this Jupyter server does not answer on ${socket}`
      )
    });
    expect(gone.result.message).toContain('restart this kernel');
  });
});
