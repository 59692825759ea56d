import type { Instance, LocalPath, Window } from '@dlaas/api';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, test } from '@jupyterlab/galata';
import { rucioOf, didPath, putNewDataset } from '../../test/support/lake';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo } from './lab';

/** A dataset of three files made for this run, so that it starts out not available. */
const NAME = `ui-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;

/** The size Rucio records for each file of the dataset, by file name. */
let sizes: Map<string, number>;
/** The Adler-32 checksum Rucio records for each file of the dataset, by file name. */
let checksums: Map<string, string>;

test.beforeAll(async () => {
  const lake = labInfo().devlake;
  await putNewDataset(lake, NAME, 3);
  const files = await rucioOf(lake, 'alice').lines<{
    name: string;
    bytes: number;
    adler32: string;
  }>('GET', `${didPath('user.alice', NAME)}/files`);
  sizes = new Map(files.map(file => [file.name, file.bytes]));
  checksums = new Map(files.map(file => [file.name, file.adler32]));
});

/** Selects the dataset in the panel, makes it available unless it is, and waits until it is. */
async function makeAvailable(page: IJupyterLabPageFixture): Promise<DataLakePanel> {
  const panel = new DataLakePanel(page);
  await panel.open();
  await panel.searchBox.fill(DID);
  await panel.row(DID).click();
  const openInBrowser = panel.details.getByRole('button', { name: 'Open in file browser' });
  const makeButton = panel.details.getByRole('button', { name: 'Make available' });
  await expect(openInBrowser.or(makeButton)).toBeVisible();
  if (await makeButton.isVisible()) {
    await makeButton.click();
  }
  await expect(openInBrowser).toBeVisible({ timeout: REPLICATION_TIMEOUT });
  return panel;
}

/**
 * Attaches the dataset to the open notebook as `variable` (the command asks for the name), then
 * runs `code` in a new cell and returns what it printed.
 */
async function attachAndRun(
  page: IJupyterLabPageFixture,
  panel: DataLakePanel,
  variable: string,
  code: string
): Promise<string> {
  await panel.details.getByRole('button', { name: 'Add to notebook' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox').fill(variable);
  await dialog.getByRole('button', { name: /^(OK|Add|Attach)$/ }).click();
  await expect(dialog).toBeHidden();
  return runCell(page, code);
}

/** Adds a code cell with `code`, runs it and returns its text output. */
async function runCell(page: IJupyterLabPageFixture, code: string): Promise<string> {
  await page.notebook.addCell('code', code);
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('').trim();
}

/**
 * Restarts the notebook's kernel and runs all its cells at once, through the Kernel menu,
 * confirming the dialog: the cells reach the restarted kernel right behind the variables.
 */
async function restartAndRunAll(page: IJupyterLabPageFixture): Promise<void> {
  await page.menu.clickMenuItem('Kernel>Restart Kernel and Run All Cells…');
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Confirm Kernel Restart' }).click();
  await expect(dialog).toBeHidden();
}

/** "part_0.dat 1000" → the size Rucio has for the file of that base name, and the printed one. */
function comparedSize(printed: string): { printed: number; rucio: number | undefined } {
  const [base, size] = printed.split(/\s+/);
  const rucio = [...sizes].find(([name]) => name.endsWith(`/${base}`))?.[1];
  return { printed: Number(size), rucio };
}

/** The kernels a dataset is added to, and the code that uses the variable there. */
const NOTEBOOKS = [
  {
    title: 'a Python notebook',
    kernel: 'python3',
    file: 'python-data.ipynb',
    printFirstFile: 'import os\nprint(os.path.basename(files[0]), os.path.getsize(files[0]))',
    printCount: 'print(len(files))'
  },
  {
    title: 'an R notebook',
    kernel: 'ir',
    file: 'r-data.ipynb',
    printFirstFile: 'cat(basename(files[1]), file.size(files[1]), "\\n")',
    printCount: 'cat(length(files), "\\n")'
  }
];

test.describe('making data available and using it', () => {
  // Galata's kernel tracking answers every POST under /api/kernels with 201, also a restart,
  // which JupyterLab accepts only with 200: the restart then fails in the page and the kernel
  // stays "Restarting". Without the tracking, the kernels go away with their sessions, which
  // Galata still tracks and deletes after each test.
  test.use({ kernels: null });
  // Each test may wait for the replication (makeAvailable), which the default minute cuts short.
  test.describe.configure({ timeout: REPLICATION_TIMEOUT + 60_000 });

  test('when a new dataset is made available, then its replication progress shows and ends in its files being available', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.searchBox.fill(DID);
    await panel.row(DID).click();
    await panel.details.getByRole('button', { name: 'Make available' }).click();
    await expect(
      panel.details.getByRole('progressbar', { name: 'Replication progress' })
    ).toBeVisible();
    await expect(panel.details.getByText('3 files available')).toBeVisible({
      timeout: REPLICATION_TIMEOUT
    });
    await expect(panel.details.getByRole('button', { name: 'Copy path' })).toBeEnabled();
  });

  test('when an available dataset is opened in the file browser, then the file browser shows its folder under datalake/ (in the mount: datalake/user.alice/<dataset>, with the files under their Rucio names)', async ({
    page
  }) => {
    const panel = await makeAvailable(page);
    await panel.details.getByRole('button', { name: 'Open in file browser' }).click();
    if (labInfo().datalake.mode !== 'fuse') {
      // A link to the scratch storage: Rucio's hashed layout, user/alice/ab/cd/<name>.
      await expect
        .poll(() => page.filebrowser.getCurrentDirectory())
        .toMatch(/^datalake\/user\/alice(\/|$)/);
      return;
    }
    await expect
      .poll(() => page.filebrowser.getCurrentDirectory())
      .toBe(`datalake/user.alice/${NAME}`);
    // The files are named <dataset>/part_<i>.dat, and a / in a name is a folder.
    await expect.poll(() => page.filebrowser.isFileListedInBrowser(NAME)).toBe(true);
    expect(await page.filebrowser.openDirectory(`datalake/user.alice/${NAME}/${NAME}`)).toBe(true);
    for (const name of sizes.keys()) {
      const base = name.slice(name.lastIndexOf('/') + 1);
      await expect.poll(() => page.filebrowser.isFileListedInBrowser(base)).toBe(true);
    }
  });

  for (const notebook of NOTEBOOKS) {
    test(`when an available dataset is added to ${notebook.title}, then the variable holds its local paths, also for the cells run with a kernel restart`, async ({
      page
    }) => {
      const panel = await makeAvailable(page);
      await page.notebook.createNew(notebook.file, { kernel: notebook.kernel });
      const printed = await attachAndRun(page, panel, 'files', notebook.printFirstFile);
      const size = comparedSize(printed);
      expect(size.rucio, `Rucio has a file named like "${printed}"`).toBeDefined();
      expect(size.printed).toBe(size.rucio);

      // A cell that only runs with the restart.
      await page.notebook.addCell('code', notebook.printCount);
      const count = (await page.notebook.getCellCount()) - 1;
      expect(await page.notebook.getCellTextOutput(count)).toBeNull();
      await restartAndRunAll(page);
      await expect
        .poll(async () => ((await page.notebook.getCellTextOutput(count)) ?? []).join('').trim())
        .toBe('3');
    });
  }
});

test.describe('the datalake folder the companion mounts', () => {
  // As above: no kernel tracking, so that Galata answers the kernel requests as Jupyter does.
  test.use({ kernels: null });
  test.describe.configure({ timeout: REPLICATION_TIMEOUT + 60_000 });
  test.beforeEach(() => {
    test.skip(
      labInfo().datalake.mode !== 'fuse',
      'This machine cannot FUSE-mount, so datalake/ links to the scratch storage.'
    );
  });

  test('when a Python notebook reads a file of an available dataset at the path the companion gives, then it reads it from the mount with Rucio’s size and Adler-32', async ({
    page,
    tmpPath
  }) => {
    await makeAvailable(page);
    const instances = (await (await page.request.get('/dlaas/api/instances')).json()) as {
      instances: Instance[];
    };
    const instance = instances.instances.find(i => i.isDefault);
    expect(instance?.paths).toEqual({ mode: 'fuse', mountPoint: labInfo().datalake.path });
    const answer = await page.request.get(
      `/dlaas/api/instances/${instance?.name}/paths?did=${encodeURIComponent(DID)}&offset=0&limit=100`
    );
    expect(answer.ok()).toBe(true);
    const paths = ((await answer.json()) as Window<LocalPath>).items;
    // The largest file: more than one page of the kernel's reads.
    const name = `${NAME}/part_2.dat`;
    const path = paths.find(p => p.name === name)?.path;
    expect(path).toBe(`${labInfo().datalake.path}/user.alice/${NAME}/${name}`);

    // The notebook goes where the file browser is, the test's own folder (the mount is read-only).
    expect(await page.filebrowser.getCurrentDirectory()).toBe(tmpPath);
    await page.notebook.createNew('read-from-mount.ipynb', { kernel: 'python3' });
    const printed = await runCell(
      page,
      [
        'import os, pathlib, zlib',
        `path = ${JSON.stringify(path)}`,
        // One statement a line: the editor indents what is typed after a colon.
        'data = pathlib.Path(path).read_bytes()',
        "print(os.path.getsize(path), len(data), '%08x' % zlib.adler32(data))"
      ].join('\n')
    );
    const bytes = sizes.get(name);
    expect(bytes).toBeGreaterThan(4096);
    expect(printed).toBe(`${bytes} ${bytes} ${checksums.get(name)}`);
  });
});
