import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, test } from '@jupyterlab/galata';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { putNewDataset } from '../../test/support/lake';
import { DataLakePanel } from './datalake';
import { labInfo } from './lab';

/** A dataset of three files made for this run, so that nothing of it is on disk yet. */
const NAME = `dl-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;
/** A dataset of 1,000 small files that devlake seeds on demand (`seed --files 1000`). */
const LARGE = 'bench:files_1000';

/** How long the companion waits for Rucio before it answers 504. */
const RUCIO_TIMEOUT = 35_000;

/** How long a download of the 1,000 files may take in devlake. */
const DOWNLOAD_TIMEOUT = 180_000;

/** Where the lab's companion downloads a collection: the workspace's datalake-downloads. */
function folderOf(scope: string, name: string): string {
  return join(labInfo().workspace, 'datalake-downloads', scope, name);
}

/** Each file's name and Adler-32, as put into the lake. */
let checksums: Map<string, string>;

test.beforeAll(async () => {
  checksums = await putNewDataset(labInfo().devlake, NAME, 3);
  // A copy left by an earlier run would be reused at once, too fast to see or cancel.
  rmSync(folderOf('bench', 'files_1000'), { recursive: true, force: true });
});

test.afterAll(() => {
  // The files of this run are deleted (its jobs are removed in the panel), and the folder too:
  // the next run starts afresh, and Galata's file browser helper, which finds a folder by the
  // start of its name, is not misled by datalake-downloads next to datalake.
  rmSync(join(labInfo().workspace, 'datalake-downloads'), { recursive: true, force: true });
});

/** Opens the panel, searches `did` and selects it. */
async function select(page: IJupyterLabPageFixture, did: string): Promise<DataLakePanel> {
  const panel = new DataLakePanel(page);
  await panel.open();
  await panel.searchBox.fill(did);
  await panel.row(did).click();
  return panel;
}

test.describe('downloading data into the workspace', () => {
  test.describe.configure({ timeout: DOWNLOAD_TIMEOUT + 60_000 });

  test('when a dataset is downloaded from its details, then its progress ends in done, a notification says where, the files are there with Rucio’s checksums, Open in file browser shows the folder, and after a reload the job is listed as done', async ({
    page
  }) => {
    const folder = folderOf('user.alice', NAME);
    const panel = await select(page, DID);
    await panel.download.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(panel.download.getByText(`Downloaded to ${folder}`)).toBeVisible({
      timeout: DOWNLOAD_TIMEOUT
    });
    await expect(page.getByText(`${DID} downloaded to ${folder}`)).toBeVisible();

    // The files mirror their Rucio names below the folder (<dataset>/part_<i>.dat).
    expect(checksums.size).toBe(3);
    for (const [name, checksum] of checksums) {
      expect(adler32(readFileSync(join(folder, name))), name).toBe(checksum);
    }

    await panel.download.getByRole('button', { name: 'Open in file browser' }).click();
    await expect
      .poll(() => page.filebrowser.getCurrentDirectory())
      .toBe(`datalake-downloads/user.alice/${NAME}`);
    await expect.poll(() => page.filebrowser.isFileListedInBrowser(NAME)).toBe(true);

    await page.reload();
    const again = await select(page, DID);
    await expect(again.download.getByText(`Downloaded to ${folder}`)).toBeVisible();
    await again.download.getByRole('button', { name: 'All downloads' }).click();
    await expect(again.downloadJob(DID).getByText(`Downloaded to ${folder}`)).toBeVisible();
    // A job that ended before the reload is not announced again.
    await expect(page.getByText(`${DID} downloaded to ${folder}`)).toBeHidden();
  });

  test('when a dataset of 1,000 files downloads, then the status bar shows its progress and opens the Downloads list, where it can be cancelled and retried to the end', async ({
    page
  }) => {
    const folder = folderOf('bench', 'files_1000');
    const panel = await select(page, LARGE);
    // An earlier run's job of this dataset may be listed: then the button says Download again.
    await panel.download.getByRole('button', { name: /^Download( again)?$/ }).click();
    // The job starts once Rucio has said the DID exists, which takes a while on a busy machine.
    await expect(panel.downloadStatus).toBeVisible({ timeout: RUCIO_TIMEOUT });
    await expect(panel.downloadStatus).toHaveText(/^Downloading( \d[\d,]* of 1,000 files|…)/);

    await panel.downloadStatus.click();
    const job = panel.downloadJob(LARGE);
    await job.getByRole('button', { name: 'Cancel' }).click();
    await expect(job.getByRole('alert')).toContainText('was cancelled');
    await expect(panel.downloadStatus).toBeHidden();

    await job.getByRole('button', { name: 'Retry' }).click();
    await expect(job.getByText(`Downloaded to ${folder}`)).toBeVisible({
      timeout: DOWNLOAD_TIMEOUT
    });
    await expect(panel.downloadStatus).toBeHidden();
    await expect(page.getByText(`${LARGE} downloaded to ${folder}`)).toBeVisible();

    // Remove forgets the jobs of this run, and any an earlier run left of these datasets (whose
    // names start alike); the files stay.
    for (const name of [LARGE, /^user\.alice:dl-/]) {
      const jobs = panel.downloads.getByRole('listitem', { name, exact: true });
      for (let left = await jobs.count(); left > 0; left--) {
        const remove = jobs.first().getByRole('button', { name: 'Remove' });
        await expect(remove).toHaveAttribute('title', /; its files stay in \//);
        await remove.click();
        await expect(jobs).toHaveCount(left - 1);
      }
    }
    expect(existsSync(join(folder, 'files_1000', 'f0000999.dat'))).toBe(true);
  });
});
