import { expect, test } from '@jupyterlab/galata';
import { setTimeout as sleep } from 'node:timers/promises';
import { putDatasetBytesLater } from '../../test/support/bytes-later';
import { controlFault } from '../../test/support/fault-control';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo, rucioControl } from './lab';

/**
 * Rucio "down" for the lab's companion (issue 11): global-setup.ts put a fault proxy between the
 * companion and devlake's Rucio (for the instance `devlake`, the panel's default); stopping it
 * refuses the companion's connections to Rucio, which keeps running for everything else.
 */

/** How long Rucio is away: the 60 s. */
const OUTAGE_MS = 60_000;
/**
 * How soon the panel shows a failure: the companion's connections are refused at once, and its
 * tracker reads the rule being copied every few seconds while someone follows it.
 */
const FAILURE_SHOWN_TIMEOUT = 30_000;
/** Once Rucio is back: the panel's queries ask again every 5 s, doubling up to every 30 s. */
const RECOVERY_TIMEOUT = 45_000;

/** A dataset made for this run, so that it starts out not available. */
const NAME = `ui-outage-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;

/** Writes the dataset's bytes on its site: until then, its rule keeps replicating. */
let writeBytes: () => Promise<void>;

test.beforeAll(async () => {
  writeBytes = await putDatasetBytesLater(labInfo().devlake, NAME, 3);
});

// Rucio is back for the tests after this one, whatever happened in it.
test.afterEach(() => controlFault(rucioControl(), 'start'));

test('when Rucio cannot be reached for 60 s during a replication, a listing and a search, then the panel says so and that it tries again by itself, and once Rucio is back the search results come and the replication ends, without a click or a reload', async ({
  page
}) => {
  test.setTimeout(OUTAGE_MS + RECOVERY_TIMEOUT + REPLICATION_TIMEOUT + 60_000);
  const panel = new DataLakePanel(page);
  await panel.open();
  await panel.searchBox.fill(DID);
  await panel.row(DID).click();
  await panel.details.getByRole('button', { name: 'Make available' }).click();
  await expect(
    panel.details.getByRole('progressbar', { name: 'Replication progress' })
  ).toBeVisible();
  // A reload of the page would lose it.
  await page.evaluate(() => {
    (window as unknown as { dlaasBeforeOutage?: boolean }).dlaasBeforeOutage = true;
  });

  await controlFault(rucioControl(), 'stop');
  const outageStarted = Date.now();
  // Rucio copies the files while the companion cannot see it.
  await writeBytes();

  const unreachable = /\(http:\/\/127\.0\.0\.1:\d+\) cannot be reached/;
  const retrying = 'dlaas tries again by itself.';
  const tryAgain = panel.root.getByRole('button', { name: 'Try again' });

  // The replication: the companion's tracker cannot read its rule, and the details say so.
  // (Soft: the listing, the search and the recovery are checked as well when this fails.)
  const availability = panel.details.getByRole('region', { name: 'Availability' });
  await expect
    .soft(availability.getByRole('alert'))
    .toContainText(unreachable, { timeout: FAILURE_SHOWN_TIMEOUT });
  await expect.soft(availability.getByRole('alert')).toContainText(retrying);

  // A listing: the dataset's files.
  await panel.openDid(DID, DID);
  const failure = panel.root.getByRole('alert').filter({ hasText: unreachable });
  await expect(failure).toContainText(retrying, { timeout: FAILURE_SHOWN_TIMEOUT });
  await expect(tryAgain).toHaveCount(0);

  // A search not asked before, so that it reaches the companion.
  await panel.searchBox.fill(`${DID}*`);
  await expect(panel.root.getByRole('listbox', { name: 'Search results' })).toBeVisible();
  await expect(failure).toContainText(retrying, { timeout: FAILURE_SHOWN_TIMEOUT });
  await expect(tryAgain).toHaveCount(0);

  // The outage itself: nothing to wait for but the time.
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
  await expect(failure).toContainText(retrying);
  expect(Date.now() - outageStarted).toBeGreaterThanOrEqual(OUTAGE_MS);
  await controlFault(rucioControl(), 'start');

  // Back, with no click: the search's results come and the sentence goes. (That the tracker
  // picks up its rule is checked against the API in test/faults/rucio-outage.test.ts.)
  await expect(panel.row(DID)).toBeVisible({ timeout: RECOVERY_TIMEOUT });
  await expect(panel.root.getByRole('alert').filter({ hasText: unreachable })).toHaveCount(0);
  expect(
    await page.evaluate(
      () => (window as unknown as { dlaasBeforeOutage?: boolean }).dlaasBeforeOutage
    ),
    'the page was not reloaded'
  ).toBe(true);

  // Its details say so too.
  await panel.row(DID).click();
  await expect(panel.details.getByText('3 files available')).toBeVisible({
    timeout: RECOVERY_TIMEOUT
  });
});
