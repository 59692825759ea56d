import { expect, test } from '@jupyterlab/galata';
import { CONTAINERS, fileContent } from '../../packages/devlake/src/catalogue';
import { didPath, rucioOf } from '../../test/support/lake';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo } from './lab';

/** The open data the analysis starts from: devlake's diphoton events (4 CSV files). */
const RAW = 'atlas_opendata:education.GamGam.events';
/** The dataset the result goes into: a name of this run, so that the lake has none such yet. */
const RESULT_NAME = `loop-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const RESULT = `user.alice:${RESULT_NAME}`;
const RSE = 'LAKE_SCRATCHDISK';
/** How long devlake may take for a small upload on a busy machine. */
const UPLOAD_TIMEOUT = 120_000;
/** The mass window the notebook selects, in GeV. */
const WINDOW = [120, 130] as const;

/**
 * What the notebook should find, computed here from devlake's own bytes for the raw files: the
 * events read, and those in the window.
 */
async function expected(): Promise<{ files: number; events: number; selected: number }> {
  const files =
    CONTAINERS.flatMap(c => c.datasets).find(d => `atlas_opendata:${d.name}` === RAW)?.files ?? [];
  const listed = await rucioOf(labInfo().devlake, 'alice').lines<{ name: string }>(
    'GET',
    `${didPath('atlas_opendata', 'education.GamGam.events')}/files`
  );
  expect(listed.map(f => f.name).sort()).toEqual(files.map(f => f.name).sort());
  let events = 0;
  let selected = 0;
  for (const file of files) {
    const [header, ...rows] = fileContent('atlas_opendata', file).toString().trim().split('\n');
    const column = (header ?? '').split(',').indexOf('m_yy');
    for (const row of rows) {
      const mass = Number(row.split(',')[column]);
      events += 1;
      selected += mass >= WINDOW[0] && mass <= WINDOW[1] ? 1 : 0;
    }
  }
  return { files: files.length, events, selected };
}

/** Sets the panel's metadata filters to `key = value` for each entry (all of them must hold). */
async function filterBy(panel: DataLakePanel, conditions: Record<string, string>): Promise<void> {
  const filters = panel.root.getByRole('group', { name: 'Metadata filters' });
  if (!(await filters.isVisible())) {
    await panel.root.getByRole('button', { name: /^Metadata filters/ }).click();
  }
  // From no condition, whatever the panel kept from an earlier search.
  const remove = filters.getByRole('button', { name: 'Remove condition' });
  while ((await remove.count()) > 0) {
    await remove.first().click();
  }
  for (const [key, value] of Object.entries(conditions)) {
    await filters.getByRole('button', { name: 'Add condition' }).click();
    await filters.getByRole('textbox', { name: 'Key' }).last().fill(key);
    await filters.getByRole('combobox', { name: 'Operator' }).last().selectOption('=');
    await filters.getByRole('textbox', { name: 'Value' }).last().fill(value);
  }
}

// Sessions, which Galata deletes after the test, take their kernels with them (see
// make-available.spec.ts for why kernels are not tracked).
test.use({ kernels: null });

test('the scientist’s loop: find raw data by its metadata, make it available, add it to a notebook that writes a result, upload the result with metadata, and find it by that metadata', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(REPLICATION_TIMEOUT + UPLOAD_TIMEOUT + 180_000);
  const want = await expected();
  expect(want.files).toBeGreaterThan(1);
  expect(want.selected).toBeGreaterThan(0);
  const panel = new DataLakePanel(page);

  // Find: a wildcard and a metadata condition, as a scientist who knows the kind of data.
  await page.notebook.createNew('analysis.ipynb', { kernel: 'python3' });
  await panel.open();
  await panel.searchBox.fill('atlas_opendata:*GamGam*');
  await filterBy(panel, { datatype: 'table' });
  await expect(panel.row(RAW)).toBeVisible();
  await panel.row(RAW).click();

  // Make available (or find it available from an earlier run: the rule is the user's own).
  const open = panel.details.getByRole('button', { name: 'Open in file browser' });
  const make = panel.details.getByRole('button', { name: 'Make available' });
  await expect(open.or(make)).toBeVisible({ timeout: 30_000 });
  if (await make.isVisible()) {
    await make.click();
  }
  await expect(open).toBeVisible({ timeout: REPLICATION_TIMEOUT });

  // Add to the notebook as `events`.
  await panel.details.getByRole('button', { name: 'Add to notebook' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox').fill('events');
  await dialog.getByRole('button', { name: 'Add' }).click();
  await expect(dialog).toBeHidden();

  // The notebook reads the files through their local paths and writes a result beside itself.
  await page.notebook.addCell(
    'code',
    [
      'import csv, os',
      'rows = [row for path in sorted(events) for row in csv.DictReader(open(path))]',
      `selected = [row for row in rows if ${WINDOW[0]} <= float(row["m_yy"]) <= ${WINDOW[1]}]`,
      'os.makedirs("results", exist_ok=True)',
      // No indented block: the editor indents typed lines by itself.
      'out = open("results/selected.csv", "w", newline="")',
      'writer = csv.DictWriter(out, fieldnames=list(rows[0]))',
      'writer.writeheader()',
      'writer.writerows(selected)',
      'out.close()',
      'print(len(events), len(rows), len(selected))'
    ].join('\n')
  );
  const cell = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(cell);
  const printed = ((await page.notebook.getCellTextOutput(cell)) ?? []).join('').trim();
  expect(printed).toBe(`${want.files} ${want.events} ${want.selected}`);
  const written = await page.contents.getContentMetadata(`${tmpPath}/results/selected.csv`);
  expect(written?.type).toBe('file');
  const size = (written as { size?: number } | null)?.size ?? 0;
  expect(size).toBeGreaterThan(0);

  // Store back: the results folder, from the file browser, into a new dataset with metadata.
  await page.sidebar.openTab('filebrowser');
  await page.filebrowser.openDirectory(tmpPath);
  await page.filebrowser.refresh();
  await page
    .locator('.jp-DirListing-item[data-isdir="true"]', { hasText: 'results' })
    .click({ button: 'right' });
  await page.getByRole('menuitem', { name: 'Upload to data lake' }).click();
  const form = panel.uploadForm;
  await expect(form).toBeVisible();
  await form.getByRole('combobox', { name: 'Scope' }).selectOption('user.alice');
  await form.getByRole('combobox', { name: 'Dataset' }).fill(RESULT_NAME);
  await expect(form.getByText(`A new dataset ${RESULT} is created.`)).toBeVisible();
  await form.getByRole('combobox', { name: 'Storage (RSE)' }).selectOption(RSE);
  for (const [key, value] of [
    ['datatype', 'results'],
    ['channel', 'GamGam']
  ]) {
    await form.getByRole('button', { name: 'Add metadata' }).click();
    await form
      .getByRole('combobox', { name: 'Metadata key' })
      .last()
      .fill(key as string);
    await form
      .getByRole('textbox', { name: 'Metadata value' })
      .last()
      .fill(value as string);
  }
  await form.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(form).toBeHidden({ timeout: UPLOAD_TIMEOUT });
  await expect(panel.uploadJob(RESULT).getByText(`Uploaded to ${RSE}`)).toBeVisible({
    timeout: UPLOAD_TIMEOUT
  });

  // Find it by that metadata, as a colleague would: it holds the file (named after the folder
  // uploaded and the file) with the size written.
  await panel.root.getByRole('button', { name: 'Back to the data lake' }).click();
  await panel.searchBox.fill('user.alice:loop-*');
  // Rucio filters on its own DID columns (datatype) or on custom keys (channel), not on both
  // kinds in one search: one search each, and one that must not find it.
  await filterBy(panel, { datatype: 'results' });
  await expect(panel.row(RESULT)).toBeVisible();
  await filterBy(panel, { channel: 'ZZ' });
  await expect(panel.count).toHaveText(/^0 (items|results)$/);
  await filterBy(panel, { channel: 'GamGam' });
  await expect(panel.row(RESULT)).toBeVisible();
  await panel.openDid(RESULT, RESULT);
  const file = panel.row(`${RESULT_NAME}/results/selected.csv`);
  await expect(file).toBeVisible();
  const files = await rucioOf(labInfo().devlake, 'alice').lines<{ name: string; bytes: number }>(
    'GET',
    `${didPath('user.alice', RESULT_NAME)}/files`
  );
  expect(files).toEqual([
    expect.objectContaining({ name: `${RESULT_NAME}/results/selected.csv`, bytes: size })
  ]);
});
