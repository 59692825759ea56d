import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

test('when JupyterLab loads, then the left sidebar has a Data Lake tab whose panel has a search box', async ({
  page
}) => {
  const panel = new DataLakePanel(page);
  await expect(panel.tab).toBeVisible();
  await panel.tab.click();
  await expect(panel.root).toBeVisible();
  await expect(panel.searchBox).toBeVisible();
});
