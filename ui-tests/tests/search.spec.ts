import { expect, test } from '@jupyterlab/galata';
import { didPath, rucioOf } from '../../test/support/lake';
import { DataLakePanel } from './datalake';
import { labInfo } from './lab';

test.describe('searching and browsing the data lake', () => {
  test('when alice searches user.alice:* and adds the metadata filter datatype = ntuple, then only her dataset analysis.v1 is left', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.searchBox.fill('user.alice:*');
    await expect(panel.count).toHaveText(/^\d+ (items|results)$/);

    await panel.root.getByRole('button', { name: 'Metadata filters' }).click();
    await panel.root.getByRole('button', { name: 'Add condition' }).click();
    await panel.root.getByRole('textbox', { name: 'Key' }).fill('datatype');
    await panel.root.getByRole('combobox', { name: 'Operator' }).selectOption('=');
    await panel.root.getByRole('textbox', { name: 'Value' }).fill('ntuple');

    await expect(panel.count).toHaveText(/^1 (item|result)$/);
    await expect(panel.row('user.alice:analysis.v1')).toBeVisible();
  });

  test('when a container is opened and then a dataset in it, then its files are listed and the breadcrumbs lead back', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.searchBox.fill('lofar:L600000');
    await panel.openDid('lofar:L600000', 'lofar:L600000');
    await expect(panel.row('L600000_SAP000_uv')).toBeVisible();
    await expect(panel.row('L600000_SAP001_uv')).toBeVisible();

    // The keyboard opens a dataset as well as a double-click does.
    await panel.row('L600000_SAP000_uv').click();
    await panel.results.press('Enter');
    await expect(panel.listOf('lofar:L600000_SAP000_uv')).toBeVisible();
    await expect(panel.count).toHaveText(/^8 (items|results)$/);
    await expect(panel.row('L600000/SAP000/L600000_SAP000_SB000_uv.MS.tar')).toBeVisible();

    await panel.location.getByRole('button', { name: 'lofar:L600000' }).click();
    await expect(panel.listOf('lofar:L600000')).toBeVisible();
    await panel.location.getByRole('button', { name: 'Search results' }).click();
    await expect(panel.root.getByRole('listbox', { name: 'Search results' })).toBeVisible();
  });

  test('when the 10,000-file dataset is sorted by size, then its largest file comes first and End reaches its smallest', async ({
    page
  }) => {
    const files = await rucioOf(labInfo().devlake, 'alice').lines<{ name: string; bytes: number }>(
      'GET',
      `${didPath('lofar', 'L700000_subbands')}/files`
    );
    // The companion's order: largest first, ties by name, numbers in names as numbers.
    const byName = new Intl.Collator('en', { numeric: true }).compare;
    const bySize = [...files].sort((a, b) => b.bytes - a.bytes || byName(a.name, b.name));
    const largest = bySize[0];
    const smallest = bySize.at(-1);
    expect(largest && smallest && largest.bytes > smallest.bytes).toBe(true);

    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.searchBox.fill('lofar:L700000_subbands');
    await panel.openDid('lofar:L700000_subbands', 'lofar:L700000_subbands');
    await panel.root.getByRole('combobox', { name: 'Sort' }).selectOption('size');
    const list = panel.listOf('lofar:L700000_subbands');
    await expect(list.getByRole('option').first()).toHaveAttribute(
      'title',
      `lofar:${largest?.name}`
    );
    await expect(panel.count).toHaveText('10,000 items');
    await list.getByRole('option').first().click();
    await list.press('End');
    await expect(list.getByRole('option', { selected: true })).toHaveAttribute(
      'title',
      `lofar:${smallest?.name}`
    );
  });
});
