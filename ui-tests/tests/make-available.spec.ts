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

test.beforeAll(async () => {
  const lake = labInfo().devlake;
  await putNewDataset(lake, NAME, 3);
  const files = await rucioOf(lake, 'alice').lines<{ name: string; bytes: number }>(
    'GET',
    `${didPath('user.alice', NAME)}/files`
  );
  sizes = new Map(files.map(file => [file.name, file.bytes]));
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

  test('when an available dataset is opened in the file browser, then the file browser shows its folder under datalake/', async ({
    page
  }) => {
    const panel = await makeAvailable(page);
    await panel.details.getByRole('button', { name: 'Open in file browser' }).click();
    await expect
      .poll(() => page.filebrowser.getCurrentDirectory())
      .toMatch(/^datalake\/user\/alice(\/|$)/);
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
