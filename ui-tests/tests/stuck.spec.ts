import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

/** Rucio gives up on a transfer after its retries; devlake's transfers of it always fail. */
const STUCK_TIMEOUT = 300_000;
/** devlake's judge-repairer looks for boosted rules every 5 s. */
const RETRY_TIMEOUT = 90_000;

test('when a dataset whose transfers fail is made available, then the panel shows Rucio’s reason, and Retry sets its transfers going again', async ({
  page
}) => {
  test.setTimeout(STUCK_TIMEOUT + RETRY_TIMEOUT + 60_000);
  const panel = new DataLakePanel(page);
  await panel.open();
  await panel.searchBox.fill('cta:calib.unreachable');
  await panel.row('cta:calib.unreachable').click();
  const makeButton = panel.details.getByRole('button', { name: 'Make available' });
  const progress = panel.details.getByRole('progressbar', { name: 'Replication progress' });
  await expect(makeButton.or(progress)).toBeVisible();
  if (await makeButton.isVisible()) {
    await makeButton.click();
  }
  // Rucio's own words for the failed transfers: devlake's transfer service was told to fail them.
  const reason = panel.details.getByRole('alert');
  await expect(reason).toContainText(/Some files cannot be copied: .*told to fail/, {
    timeout: STUCK_TIMEOUT
  });
  await panel.details.getByRole('button', { name: 'Retry' }).click();
  // Rucio's repairer resubmits the stuck files: the rule replicates again, so the reason goes.
  await expect(reason).toBeHidden({ timeout: RETRY_TIMEOUT });
  await expect(progress).toBeVisible();
});
