import { expect, test } from '@jupyterlab/galata';
import { putNewDataset } from '../../test/support/lake';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo } from './lab';

/** A dataset of two files made for this run: not available when it is attached. */
const NAME = `later-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;

test.beforeAll(async () => {
  await putNewDataset(labInfo().devlake, NAME, 2);
});

// Galata's kernel tracking breaks kernel restarts (see make-available.spec.ts); sessions, which
// it still tracks and deletes after each test, take their kernels with them.
test.use({ kernels: null });

test('when data that is not available yet is added to a notebook, then its variable says so until it is made available, and then holds its paths', async ({
  page
}) => {
  const panel = new DataLakePanel(page);
  await page.notebook.createNew('later.ipynb', { kernel: 'python3' });
  await panel.open();
  await panel.searchBox.fill(DID);
  await panel.row(DID).click();
  const makeButton = panel.details.getByRole('button', { name: 'Make available' });
  await expect(makeButton).toBeVisible();

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
