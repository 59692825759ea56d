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

test('when the Data Lake panel is open and JupyterLab is reloaded, then it is open again', async ({
  page
}) => {
  const panel = new DataLakePanel(page);
  // JupyterLab saves its layout to the workspace a moment after it changes; saves made before the
  // panel opened do not count (reloading after one of them lost the panel now and then).
  const saved = page.waitForRequest(request => {
    if (request.method() !== 'PUT' || !/\/api\/workspaces\//.test(request.url())) {
      return false;
    }
    const body = request.postDataJSON() as {
      data?: { 'layout-restorer:data'?: { left?: { current?: string; collapsed?: boolean } } };
    } | null;
    const left = body?.data?.['layout-restorer:data']?.left;
    // 'dlaas' is the name the extension gives the panel for the layout restorer.
    return left?.current === 'dlaas' && left.collapsed === false;
  });
  await panel.open();
  await (await saved).response();
  await page.reload();
  await expect(panel.root).toBeVisible();
  await expect(panel.searchBox).toBeVisible();
});

test('when "Search the Data Lake" is run from the command palette, then the panel opens with its search box focused', async ({
  page
}) => {
  const panel = new DataLakePanel(page);
  await expect(panel.root).toBeHidden();
  await page.keyboard.press('Control+Shift+C');
  const palette = page
    .getByRole('textbox', { name: 'Command Palette' })
    .or(page.locator('#command-palette input'));
  await palette.fill('Search the Data Lake');
  await page.keyboard.press('Enter');
  await expect(panel.searchBox).toBeFocused();
});

test('when the Settings Editor is opened on the Data Lake, then its settings are there with their defaults', async ({
  page
}) => {
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('settingeditor:open', {
      query: 'Data Lake'
    })
  );
  const editor = page
    .getByRole('region', { name: /Data Lake/ })
    .or(page.locator('.jp-SettingsForm'));
  await expect(editor.getByText('Default data lake').first()).toBeVisible();
  await expect(editor.getByText('Search delay (ms)').first()).toBeVisible();
});
