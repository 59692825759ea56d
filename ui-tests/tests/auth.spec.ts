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

  // global-setup.ts gives this lab's OpenID instance an expired session whose refresh token the
  // provider refuses.
  test('when the OpenID session has expired and cannot be renewed, then the panel says to sign in again, with a Sign in button, instead of searching', async ({
    page
  }) => {
    const panel = new DataLakePanel(page);
    await panel.open();
    await panel.instancePicker.selectOption('devlake-oidc');
    await expect(
      panel.root.getByText(
        'Your sign-in to devlake-oidc can no longer be renewed. Sign in to devlake-oidc again.'
      )
    ).toBeVisible();
    await expect(panel.root.getByRole('button', { name: 'Sign in' })).toBeVisible();
    await expect(panel.root.getByText(/^Signed in as/)).toBeHidden();
    await expect(panel.searchBox).toBeHidden();
  });
});
