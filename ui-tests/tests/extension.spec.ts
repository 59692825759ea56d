import { expect, test } from '@playwright/test';
import { jupyter } from './lab';

test('when JupyterLab starts with the dlaas wheel, then jupyter labextension list shows @dlaas/jupyterlab-extension enabled', () => {
  const listed = jupyter(['labextension', 'list']);
  expect(listed).toMatch(/^\s*@dlaas\/jupyterlab-extension v\S+ enabled OK \(python, dlaas\)$/m);
});
