import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

/**
 * The panel as it looks, in JupyterLab's light and dark themes. The screenshots are committed;
 * `npm run test:ui:update` rewrites them after an intended change.
 */
for (const theme of ['light', 'dark'] as const) {
  test(`when the panel lists the search results of cta:prod5.* in the ${theme} theme, then it looks as recorded`, async ({
    page
  }) => {
    if (theme === 'dark') {
      await page.theme.setDarkTheme();
    }
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.searchBox.fill('cta:prod5.*');
    await expect(panel.count).toHaveText(/^2 (items|results)$/);
    await expect(panel.root).toHaveScreenshot(`panel-search-${theme}.png`);
  });
}
