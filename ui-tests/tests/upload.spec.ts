import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

/** A dataset name of this run, so that the lake has no such name yet. */
const NAME = `upload-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const DID = `user.alice:${NAME}`;
const RSE = 'LAKE_SCRATCHDISK';

/** How long devlake may take for a small upload on a busy machine. */
const UPLOAD_TIMEOUT = 120_000;

test.describe('storing results back into the data lake', () => {
  test.describe.configure({ timeout: UPLOAD_TIMEOUT + 120_000 });

  test('when a folder of the workspace is uploaded from the file browser into a new dataset with metadata, then its progress ends in done, a notification says so, the job is listed after a reload, and a search by that metadata finds the dataset', async ({
    page,
    tmpPath
  }) => {
    // Two small files in a folder of the lab's workspace, through Jupyter's contents API.
    await page.contents.createDirectory(`${tmpPath}/results`);
    await page.contents.uploadContent('x,y\n1,2\n', 'text', `${tmpPath}/results/table.csv`);
    await page.contents.uploadContent('all went well\n', 'text', `${tmpPath}/results/log.txt`);
    await page.filebrowser.openDirectory(tmpPath);
    await page.filebrowser.refresh();

    const folder = page.locator('.jp-DirListing-item[data-isdir="true"]', { hasText: 'results' });
    await folder.click({ button: 'right' });
    await page.getByRole('menuitem', { name: 'Upload to data lake' }).click();

    const panel = new DataLakePanel(page);
    const form = panel.uploadForm;
    await expect(form).toBeVisible();
    await expect(form.getByText(new RegExp(`${tmpPath}/results$`))).toBeVisible();
    await form.getByRole('combobox', { name: 'Scope' }).selectOption('user.alice');

    // The name is checked as it is typed: a bad one is refused before anything is sent.
    const dataset = form.getByRole('combobox', { name: 'Dataset' });
    await dataset.fill('bad name');
    await expect(form.getByText(/^Names have up to 250 letters/)).toBeVisible();
    await expect(form.getByRole('button', { name: 'Upload', exact: true })).toBeDisabled();
    await dataset.fill(NAME);
    await expect(form.getByText(`A new dataset ${DID} is created.`)).toBeVisible();

    // The RSE with the account's quota there.
    await form.getByRole('combobox', { name: 'Storage (RSE)' }).selectOption(RSE);
    await expect(form.getByText(new RegExp(`^Your quota on ${RSE}: `))).toBeVisible();

    await form.getByRole('button', { name: 'Add metadata' }).click();
    await form.getByRole('combobox', { name: 'Metadata key' }).fill('datatype');
    await form.getByRole('textbox', { name: 'Metadata value' }).fill('results');
    await form.getByRole('button', { name: 'Upload', exact: true }).click();

    // The form gives way to the job in the Uploads list, which ends in done.
    await expect(form).toBeHidden({ timeout: UPLOAD_TIMEOUT });
    const job = panel.uploadJob(DID);
    await expect(job).toBeVisible();
    await expect(job.getByText(`Uploaded to ${RSE}`)).toBeVisible({ timeout: UPLOAD_TIMEOUT });
    await expect(page.getByText(`${DID} is uploaded to ${RSE}`)).toBeVisible();

    // The job survives a reload.
    await page.reload();
    await page.evaluate(() =>
      (
        window as unknown as {
          jupyterapp: { commands: { execute(id: string): Promise<unknown> } };
        }
      ).jupyterapp.commands.execute('dlaas:show-uploads')
    );
    await expect(panel.uploadJob(DID).getByText(`Uploaded to ${RSE}`)).toBeVisible();

    // A search by the metadata finds the dataset; another value does not.
    await panel.root.getByRole('button', { name: 'Back to the data lake' }).click();
    await panel.searchBox.fill(DID);
    await panel.root.getByRole('button', { name: 'Metadata filters' }).click();
    await panel.root.getByRole('button', { name: 'Add condition' }).click();
    await panel.root.getByRole('textbox', { name: 'Key' }).fill('datatype');
    await panel.root.getByRole('combobox', { name: 'Operator' }).selectOption('=');
    const value = panel.root.getByRole('textbox', { name: 'Value' });
    await value.fill('results');
    await expect(panel.count).toHaveText(/^1 (item|result)$/);
    await expect(panel.row(DID)).toBeVisible();
    await value.fill('raw');
    await expect(panel.count).toHaveText(/^0 (items|results)$/);
  });
});
