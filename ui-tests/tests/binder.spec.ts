import { expect, test } from '@playwright/test';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTAINERS, fileContent } from '../../packages/devlake/src/catalogue';
import {
  buildBinderImage,
  imageEnv,
  imageLakeStatus,
  startBinderLab,
  userProcesses,
  type BinderImage,
  type BinderLab
} from '../../test/support/binder';
import { memoryReport, treeMemory } from '../../test/support/memory';
import { runAsUser } from '../../test/support/normal-user';
import { freePort } from '../../test/support/processes';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';

/**
 * Binder: the repository built into an image by its own binder/ files as repo2docker would
 * (test/support/binder.ts: apt.txt's packages, requirements.txt in a notebook environment, a
 * fresh home holding the repository, postBuild as a normal user), then launched with
 * `binder/start jupyter lab`. A student's first minutes: JupyterLab opens with the Data Lake
 * panel listing devlake's demo data, a dataset is made available, and the tutorial runs.
 */
test.describe.configure({ mode: 'serial' });
// The UI lab's token is no credential for the Binder lab.
test.use({ extraHTTPHeaders: {} });

/** devlake's base port in the image: clear of the tests' devlake (18400 or 18700) and of 19100. */
const BASE_PORT = 19200;
/** Binder's memory for devlake and the companion together: 1 GB as JupyterHub counts it. */
const MEMORY_GOAL_BYTES = 1024 ** 3;
/** A closed demo dataset of 6 files, not available after the image is built. */
const DID = 'cta:prod5.gamma_onSource';
/** The demo tables the tutorial reads. */
const TUTORIAL_DATASET = 'education.GamGam.events';

const log = (line: string): void => console.log(`[binder] ${line}`);
let image: BinderImage;
let lab: BinderLab | undefined;

test.beforeAll(async () => {
  // A cold first build installs the notebook environment, npm's packages and Rucio from the
  // network; later builds take their downloads from the caches.
  test.setTimeout(40 * 60_000);
  const built = await buildBinderImage({ basePort: BASE_PORT, log });
  image = built.image;
  console.log(`Binder image: postBuild took ${built.postBuildSeconds.toFixed(0)} s`);
});

test.afterAll(async () => {
  await lab?.stop();
});

test('when Binder launches the image, then JupyterLab opens with the Data Lake panel listing the demo data, a make-available reaches AVAILABLE, and devlake with the companion holds under 1 GB', async ({
  browser
}) => {
  test.setTimeout(10 * 60_000);
  lab = await startBinderLab(image, {
    port: await freePort(),
    token: randomBytes(16).toString('hex'),
    log
  });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${lab.url}/lab?token=${lab.token}`);
  const panel = new DataLakePanel(page);
  await expect(panel.tab).toBeVisible({ timeout: 120_000 });
  await panel.open();
  await expect(
    panel.root.getByRole('list', { name: 'Scopes' }).getByText('atlas_opendata', { exact: true })
  ).toBeVisible({ timeout: 120_000 });
  const seconds = (Date.now() - lab.startedAt) / 1000;
  console.log(
    `Binder launch: from binder/start to the panel listing the demo data ${seconds.toFixed(1)} s (goal < 30 s)`
  );

  await panel.searchBox.fill(DID);
  await panel.row(DID).click();
  await panel.details.getByRole('button', { name: 'Make available' }).click();
  await expect(panel.details.getByRole('button', { name: 'Open in file browser' })).toBeVisible({
    timeout: REPLICATION_TIMEOUT
  });

  const status = await imageLakeStatus(image);
  expect(status).toMatchObject({ running: true, profile: 'small' });
  const roots = new Map(status.services.map(s => [s.name, s.pid as number]));
  const companions = userProcesses(image.user, 'companion.mjs');
  expect(companions, 'the companion the Jupyter server started').toHaveLength(1);
  roots.set('companion', companions[0] as number);
  const memory = treeMemory(roots);
  console.log(
    `Memory of devlake (small profile) and the companion in Binder:\n${memoryReport(memory)}`
  );
  const total = [...memory.values()].reduce((sum, m) => sum + m.rss, 0);
  expect(total).toBeLessThan(MEMORY_GOAL_BYTES);
});

/** What the notebook's cells printed (stream and text outputs), in order. */
function printed(notebook: string): string {
  const cells = (
    JSON.parse(readFileSync(notebook, 'utf8')) as {
      cells: { outputs?: { text?: string | string[]; data?: Record<string, unknown> }[] }[];
    }
  ).cells;
  return cells
    .flatMap(cell => cell.outputs ?? [])
    .map(output => {
      const text = output.text ?? output.data?.['text/plain'] ?? '';
      return Array.isArray(text) ? text.join('') : String(text);
    })
    .join('\n');
}

test('when the tutorial is executed headless (nbclient) in the image, then it reads the demo tables and prints the numbers it promises', async () => {
  test.setTimeout(15 * 60_000);
  const dataset = CONTAINERS.flatMap(c => c.datasets).find(d => d.name === TUTORIAL_DATASET);
  expect(dataset, `devlake's demo data holds ${TUTORIAL_DATASET}`).toBeDefined();
  const files = dataset?.files ?? [];
  const events = files
    .map(file => fileContent('atlas_opendata', file).toString().trim().split('\n').length - 1)
    .reduce((sum, n) => sum + n, 0);

  const output = join(image.user.home, 'tutorial.out.ipynb');
  const run = await runAsUser(
    image.user,
    'python',
    [
      '-c',
      [
        'import sys, nbformat',
        'from nbclient import NotebookClient',
        'nb = nbformat.read("tutorial.ipynb", as_version=4)',
        'NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()',
        'nbformat.write(nb, sys.argv[1])'
      ].join('\n'),
      output
    ],
    { env: imageEnv(image), cwd: join(image.user.home, 'binder'), onLine: log }
  );
  expect(run.code, run.stderr.slice(-4000)).toBe(0);
  const text = printed(output);
  expect(text).toContain(`Read ${files.length} files with ${events} events.`);
  expect(text).toMatch(/Excess of \d+ events near 125 GeV \(peak bin 12[3-7](\.\d+)? GeV\)\./);
  for (const result of ['diphoton_mass_histogram.csv', 'diphoton_mass.png']) {
    expect(existsSync(join(image.user.home, 'binder', 'results', result)), result).toBe(true);
  }
});
