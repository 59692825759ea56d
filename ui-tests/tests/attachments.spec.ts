import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import { putNewDataset } from '../../test/support/lake';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo } from './lab';

/** A dataset of two files made for this run: not available when it is attached. */
const NAME = `later-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;
/** A dataset of one file named in a shared notebook's metadata; never made available. */
const SHARED_NAME = `shared-${Date.now().toString(36)}`;
const SHARED_DID = `user.alice:${SHARED_NAME}`;

test.beforeAll(async () => {
  await putNewDataset(labInfo().devlake, NAME, 2);
  await putNewDataset(labInfo().devlake, SHARED_NAME, 1);
});

/** Adds a code cell with `code` to the active notebook, runs it and returns its text output. */
async function runCell(page: IJupyterLabPageFixture, code: string): Promise<string> {
  await page.notebook.addCell('code', code);
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('').trim();
}

// Galata's kernel tracking breaks kernel restarts (see make-available.spec.ts); sessions, which
// it still tracks and deletes after each test, take their kernels with them.
test.use({ kernels: null });

test('when data that is not available yet is added to a notebook, then its variable says so until it is made available, and then holds its paths', async ({
  page
}) => {
  // The replication alone may take REPLICATION_TIMEOUT; the test's default minute would end it.
  test.setTimeout(REPLICATION_TIMEOUT + 120_000);
  const panel = new DataLakePanel(page);
  await page.notebook.createNew('later.ipynb', { kernel: 'python3' });
  await panel.open();
  await panel.searchBox.fill(DID);
  await panel.row(DID).click();
  const makeButton = panel.details.getByRole('button', { name: 'Make available' });
  // The details and the availability are two look-ups in Rucio: seconds each on a busy machine.
  await expect(makeButton).toBeVisible({ timeout: 30_000 });

  await panel.details.getByRole('button', { name: 'Add to notebook' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox').fill('later');
  await dialog.getByRole('button', { name: 'Add' }).click();
  await expect(dialog).toBeHidden();

  // The Notebook data panel (right) lists the attachment with its state and what to do.
  const notebookData = page.locator('#dlaas-notebook-data');
  await page.getByRole('tab', { name: 'Notebook data' }).click();
  await expect(notebookData).toBeVisible();
  const item = notebookData.getByRole('listitem', { name: `later: ${DID}` });
  await expect(item.getByText('Not available yet', { exact: true })).toBeVisible();
  await expect(item).toContainText(
    `${DID} is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.`
  );

  // Using the variable fails with that sentence, not with a path that does not exist.
  await page.notebook.addCell(
    'code',
    'try:\n    open(later)\nexcept Exception as error:\n    print(type(error).__name__, error)'
  );
  const tryCell = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(tryCell);
  const printed = ((await page.notebook.getCellTextOutput(tryCell)) ?? []).join('').trim();
  expect(printed).toBe(
    `DataLakeNotAvailableError ${DID} is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.`
  );

  // Once made available, the variable is set again without the user doing anything more.
  await panel.open();
  await makeButton.click();
  await expect(panel.details.getByRole('button', { name: 'Open in file browser' })).toBeVisible({
    timeout: REPLICATION_TIMEOUT
  });
  // The right sidebar stayed open.
  await expect(item.getByText('Injected: 2 paths', { exact: true })).toBeVisible();
  await page.notebook.addCell('code', 'print(len(later), all(p.endswith(".dat") for p in later))');
  const countCell = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(countCell);
  expect(((await page.notebook.getCellTextOutput(countCell)) ?? []).join('').trim()).toBe('2 True');
});

test('when a notebook arrives with data attached elsewhere, then nothing is set in its kernel until the user allows it in the Notebook data panel, and once allowed it stays allowed', async ({
  page,
  tmpPath
}) => {
  // Three cells, two openings of the notebook and its kernel, and data lake look-ups: more than a
  // minute on a busy 2-core machine.
  test.setTimeout(180_000);
  /** How long setting a variable (a data lake look-up, then the kernel) may take here. */
  const setting = { timeout: 30_000 };
  const instances = (await (await page.request.get('/dlaas/api/instances')).json()) as {
    instances: { name: string; isDefault: boolean }[];
  };
  const instance = instances.instances.find(i => i.isDefault)?.name ?? '';
  expect(instance).not.toBe('');
  // A notebook as someone else saved it: its metadata names the data and the variable.
  const file = `${SHARED_NAME}.ipynb`;
  const notebook = {
    cells: [],
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' },
      dlaas: { attachments: [{ instance, did: SHARED_DID, variable: 'shared' }] }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
  expect(
    await page.contents.uploadContent(JSON.stringify(notebook), 'text', `${tmpPath}/${file}`)
  ).toBe(true);
  expect(await page.notebook.openByPath(`${tmpPath}/${file}`)).toBe(true);

  // A notification says so wherever the user looks; the panel asks and each row waits.
  const toast = page.getByText(
    `${file} asks to set 1 variable from the data lake: shared. Allow it, or see the details in the Notebook data panel.`
  );
  await expect(toast).toBeVisible(setting);
  const notebookData = page.locator('#dlaas-notebook-data');
  await page.getByRole('tab', { name: 'Notebook data' }).click();
  const notice = notebookData.getByRole('region', {
    name: 'This notebook asks to set 1 variable from the data lake: shared. Allow?'
  });
  await expect(notice).toBeVisible(setting);
  const item = notebookData.getByRole('listitem', { name: `shared: ${SHARED_DID}` });
  await expect(item.getByText('Waiting for your approval', { exact: true })).toBeVisible();
  expect(await runCell(page, "print('shared' in globals())")).toBe('False');

  await notice.getByRole('button', { name: 'Allow' }).click();
  await expect(notice).toBeHidden();
  await expect(toast).toBeHidden();
  await expect(item.getByText('Not available yet', { exact: true })).toBeVisible(setting);
  expect(
    await runCell(
      page,
      'try:\n    open(shared)\nexcept Exception as error:\n    print(type(error).__name__)'
    )
  ).toBe('DataLakeNotAvailableError');

  // Saved by the user, closed and opened again: the agreement is kept (in JupyterLab's state),
  // and the variable is set without asking.
  expect(await page.notebook.close(false)).toBe(true);
  expect(await page.notebook.openByPath(`${tmpPath}/${file}`)).toBe(true);
  await expect(item.getByText('Not available yet', { exact: true })).toBeVisible(setting);
  await expect(notice).toBeHidden();
  await expect(toast).toBeHidden();
  expect(await runCell(page, 'print(type(shared).__name__)')).toBe('DataLakeNotAvailable');
});
