import { expect, test, type Browser, type Page } from '@playwright/test';
import { putNewDataset } from '../../test/support/lake';
import { startChartHub, type RunningHub } from '../../test/support/z2jh';
import { DataLakePanel, REPLICATION_TIMEOUT } from './datalake';
import { labInfo } from './lab';

/**
 * A hub as the Helm chart deploys it (z2jh 4.4.0's own configuration on the values rendered for
 * examples/devlake.yaml; see test/support/z2jh.ts), with devlake's OpenID provider as IAM: people
 * sign in at the provider's page in Chromium and use dlaas in the JupyterLab the hub spawns.
 * devlake's hub client `dlaas-hub` gets access tokens that live one minute, so that the hub's
 * renewal ahead of expiry is seen several times within the test.
 */
test.describe.configure({ mode: 'serial' });
// The UI lab's token is no credential for the hub.
test.use({ extraHTTPHeaders: {} });

/** A dataset made for this run, so that it starts out not available. */
const NAME = `hub-${Date.now().toString(36)}`;
const DID = `user.alice:${NAME}`;
/** The access tokens' life at devlake's client dlaas-hub. */
const TOKEN_LIFE_MS = 60_000;

let hub: RunningHub;
/** Adler-32 of each file of the dataset, by file name. */
let checksums: Map<string, string>;
/** alice's JupyterLab, kept open from her sign-in to the end. */
let alice: Page;
/** alice's access token right after her sign-in. */
let firstToken: string;

test.beforeAll(async () => {
  test.setTimeout(900_000);
  const lake = labInfo().devlake;
  hub = await startChartHub(lake, {
    // Renew tokens with less than 30 s left, checked at most every 10 s: the one-minute tokens
    // are renewed a few times while the test runs.
    set: ['dlaas.refresh.secondsBeforeExpiry=30', 'dlaas.refresh.checkEverySeconds=10'],
    log: line => console.log(`[hub] ${line}`)
  });
  checksums = await putNewDataset(lake, NAME, 2);
});

test.afterAll(async () => {
  await hub?.stop();
});

/** Opens the hub in a new browser context and signs in as `user` at the provider's page. */
async function signIn(browser: Browser, user: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${hub.url}/hub/`);
  await page.getByRole('button', { name: 'Sign in with IAM' }).click();
  await expect(page).toHaveTitle('Sign in to the dlaas test IdP');
  await page.getByRole('button', { name: user, exact: true }).click();
  return page;
}

/** Waits for the user's JupyterLab and shows the Data Lake panel. */
async function openPanel(page: Page, user: string): Promise<DataLakePanel> {
  await page.waitForURL(`${hub.url}/user/${user}/lab**`, { timeout: 180_000 });
  const panel = new DataLakePanel(page);
  await expect(panel.tab).toBeVisible({ timeout: 60_000 });
  await panel.open();
  return panel;
}

/** Opens a new Python notebook from the launcher, runs `code` in its cell and returns what it printed. */
async function runInNewNotebook(page: Page, code: string): Promise<string> {
  const quick = { timeout: 15_000 };
  const python = page
    .locator('.jp-LauncherCard[data-category="Notebook"][title^="Python 3"]:visible')
    .first();
  if (!(await python.isVisible())) {
    await page.getByRole('menuitem', { name: 'File' }).click(quick);
    await page.getByRole('menuitem', { name: /^New Launcher/ }).click(quick);
  }
  await python.click(quick);
  // The status bar names the kernel once it is up.
  await expect(page.getByRole('button', { name: /^Python 3 \(ipykernel\) \| Idle/ })).toBeVisible({
    timeout: 90_000
  });
  const editor = page.locator('.jp-NotebookPanel:visible .jp-Cell .cm-content').first();
  await expect(async () => {
    await editor.click();
    // insertText: no auto-closed brackets or indentation added as the code is typed.
    await page.keyboard.insertText(code);
    await expect(editor).toContainText(code.split('\n')[0] ?? '', { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await page.keyboard.press('Shift+Enter');
  const output = page.locator('.jp-NotebookPanel:visible .jp-OutputArea-output').first();
  await expect(output).not.toBeEmpty({ timeout: 120_000 });
  return (await output.innerText()).trim();
}

/**
 * Search patterns that each find the run's dataset (`user.alice:hu*23`, …), all different, so
 * that each search reaches the companion and Rucio instead of the panel's cache.
 */
function* patterns(): Generator<string> {
  for (let start = NAME.length - 1; start >= 1; start--) {
    for (let end = start; end <= NAME.length; end++) {
      yield `user.alice:${NAME.slice(0, start)}*${NAME.slice(end)}`;
    }
  }
}
const searches = patterns();

/** Searches the panel for the run's dataset and waits for its row: the companion reached Rucio. */
async function searchDataset(panel: DataLakePanel, pattern = DID): Promise<void> {
  await panel.searchBox.fill(pattern);
  await expect(panel.row(DID)).toBeVisible({ timeout: 30_000 });
}

/** A search that the panel has not made before. */
function nextPattern(): string {
  const next = searches.next();
  if (next.done) {
    throw new Error('no search patterns left for the run’s dataset');
  }
  return next.value;
}

function jwtClaims(token: string): { exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    exp: number;
  };
}

test('when alice signs in at the provider, then her JupyterLab says she is signed in, makes a dataset available and a notebook reads its files from the mount', async ({
  browser
}) => {
  test.setTimeout(600_000);
  alice = await signIn(browser, 'alice');
  const panel = await openPanel(alice, 'alice');
  await expect(panel.root.getByText('Signed in as alice')).toBeVisible({ timeout: 30_000 });
  const state = await hub.authState('alice');
  firstToken = String(state?.['access_token']);
  expect(state).toMatchObject({
    access_token: expect.any(String),
    refresh_token: expect.any(String),
    rucio_access_token: expect.any(String)
  });

  await searchDataset(panel);
  await panel.row(DID).click();
  await panel.details.getByRole('button', { name: 'Make available' }).click();
  await expect(panel.details.getByRole('button', { name: 'Open in file browser' })).toBeVisible({
    timeout: REPLICATION_TIMEOUT
  });

  const printed = await runInNewNotebook(
    alice,
    [
      'import json, pathlib, zlib',
      `folder = pathlib.Path.home() / "datalake" / "user.alice" / ${JSON.stringify(NAME)}`,
      'print(json.dumps(sorted([p.name, format(zlib.adler32(p.read_bytes()), "08x")] for p in folder.rglob("*.dat"))))'
    ].join('\n')
  );
  const expected = [...checksums].map(([name, adler]) => [name.split('/').pop(), adler]).sort();
  expect(JSON.parse(printed)).toEqual(expected);
});

test('when bob signs in too, then his server’s hub token reads his own tokens and not alice’s', async ({
  browser
}) => {
  test.setTimeout(300_000);
  const bob = await signIn(browser, 'bob');
  const panel = await openPanel(bob, 'bob');
  await expect(panel.root.getByText('Signed in as bob')).toBeVisible({ timeout: 30_000 });
  const printed = await runInNewNotebook(
    bob,
    [
      'import json, os, urllib.error, urllib.request',
      'def tokens_of(user):',
      '    url = os.environ["JUPYTERHUB_API_URL"] + "/users/" + user',
      '    request = urllib.request.Request(url, headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})',
      '    try:',
      '        with urllib.request.urlopen(request) as answer:',
      '            return sorted((json.load(answer).get("auth_state") or {}).keys())',
      '    except urllib.error.HTTPError as error:',
      '        return error.code',
      'print(json.dumps({user: tokens_of(user) for user in ["bob", "alice"]}))'
    ].join('\n')
  );
  const seen = JSON.parse(printed) as { bob: unknown; alice: unknown };
  expect(seen.bob).toEqual(expect.arrayContaining(['access_token', 'rucio_access_token']));
  expect([403, 404]).toContain(seen.alice);
  await bob.context().close();
});

test('when a user outside the allowed groups signs in, then the hub refuses her with its 403 page', async ({
  browser
}) => {
  const carol = await signIn(browser, 'carol');
  await expect(carol.getByText('403 : Forbidden')).toBeVisible({ timeout: 30_000 });
  await expect(carol).not.toHaveURL(/\/user\/carol\//);
  await carol.context().close();
});

test('when the one-minute tokens expire again and again, then the panel keeps working; once the refresh token is revoked, it says to log in again', async () => {
  test.setTimeout(600_000);
  const panel = new DataLakePanel(alice);
  await panel.open();
  // Keep using the panel until alice's tokens were renewed three times after her sign-in and her
  // first token is more than one life past its expiry.
  const tokens = new Set([firstToken]);
  const pastFirst = jwtClaims(firstToken).exp * 1000 + TOKEN_LIFE_MS;
  while (tokens.size < 4 || Date.now() < pastFirst) {
    await searchDataset(panel, nextPattern());
    await expect(panel.root.getByText('Signed in as alice')).toBeVisible();
    tokens.add(String((await hub.authState('alice'))?.['access_token']));
    await alice.waitForTimeout(5_000);
  }

  const lake = labInfo().devlake;
  const client = lake.idp.clients.find(c => c.clientId === 'dlaas-hub');
  const refreshToken = String((await hub.authState('alice'))?.['refresh_token']);
  const revoked = await fetch(`${lake.idp.issuer}/token/revocation`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`dlaas-hub:${client?.clientSecret ?? ''}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded'
    },
    body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' })
  });
  expect(revoked.status).toBe(200);
  // The current token still works until it expires; then the hub cannot renew it.
  const signInAgain = panel.root.getByText(/log in again/).first();
  await expect(async () => {
    if (!(await signInAgain.isVisible())) {
      await panel.searchBox.fill(nextPattern());
    }
    await expect(signInAgain).toBeVisible({ timeout: 5_000 });
  }).toPass({ timeout: 3 * TOKEN_LIFE_MS, intervals: [5_000] });
  await expect(panel.root.getByText('Signed in as alice')).toBeHidden({ timeout: 30_000 });
});
