import { expect, test } from '@jupyterlab/galata';
import { DataLakePanel } from './datalake';

test.describe('signing in', () => {
  test('when the panel opens on the default instance, then it says alice is signed in and asks for no sign-in', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await expect(panel.instancePicker).toHaveValue('devlake');
    await expect(panel.root.getByText('Signed in as alice')).toBeVisible();
    await expect(panel.root.getByRole('button', { name: 'Sign in' })).toBeHidden();
    await expect(panel.searchBox).toBeVisible();
  });

  // global-setup.ts removes this lab's OpenID tokens, so its session is gone as an expired,
  // unrenewable one would be.
  test('when the OpenID instance has no valid session, then the panel asks to sign in again instead of searching', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.instancePicker.selectOption('devlake-oidc');
    await expect(panel.root.getByRole('button', { name: 'Sign in' })).toBeVisible();
    await expect(panel.root.getByText(/^Signed in as/)).toBeHidden();
    await expect(panel.searchBox).toBeHidden();
  });
});
