import { expect, type Locator, type Page } from '@playwright/test';

/** How long Rucio's daemons may take to copy a small dataset to the scratch RSE. */
export const REPLICATION_TIMEOUT = 240_000;

/**
 * The Data Lake panel as a person sees it, by the roles and names of the extension's UI contract:
 * sidebar widget `dlaas-sidebar` whose tab is captioned "Data Lake".
 */
export class DataLakePanel {
  constructor(readonly page: Page) {
    this.root = page.locator('#dlaas-sidebar');
  }

  /** The panel's widget. */
  readonly root: Locator;

  /** The sidebar tab that shows the panel. */
  get tab(): Locator {
    return this.page.getByRole('tab', { name: 'Data Lake' });
  }

  /** Shows the panel (clicking its tab unless it is shown already). */
  async open(): Promise<void> {
    if (!(await this.root.isVisible())) {
      await this.tab.click();
    }
    await expect(this.root).toBeVisible();
  }

  /** The search box: an `<input type="search">` (role searchbox) or a plain textbox. */
  get searchBox(): Locator {
    const name = 'Search the data lake';
    return this.root.getByRole('searchbox', { name }).or(this.root.getByRole('textbox', { name }));
  }

  /** The instance picker. */
  get instancePicker(): Locator {
    return this.root.getByRole('combobox', { name: 'Data lake' });
  }

  /** The list of search results or of a container's or dataset's contents. */
  get results(): Locator {
    return this.root.getByRole('listbox', { name: /^(Search results|Contents of .+)$/ });
  }

  /** The list of the contents of a container or dataset. */
  listOf(did: string): Locator {
    return this.root.getByRole('listbox', { name: `Contents of ${did}` });
  }

  /**
   * The row of a DID, by the name it shows (`scope:name` among search results, `name` among a
   * DID's contents): its accessible name starts with that name, which no other row's does.
   */
  row(name: string): Locator {
    return this.results
      .getByRole('option', { name: new RegExp(`^${escapeRegExp(name)}`) })
      .filter({ has: this.page.getByText(name, { exact: true }) });
  }

  /** The status line that counts the DIDs listed ("12 results"). */
  get count(): Locator {
    return this.root.getByRole('status').filter({ hasText: /^(\d[\d,]*|Searching)/ });
  }

  /** The breadcrumbs. */
  get location(): Locator {
    return this.root.getByRole('navigation', { name: 'Location' });
  }

  /** The details of the selected DID. */
  get details(): Locator {
    return this.root.getByRole('region', { name: 'Details' });
  }

  /** The Download block in the details of the selected DID. */
  get download(): Locator {
    return this.details.getByRole('region', { name: 'Download', exact: true });
  }

  /** The Downloads list of the instance shown. */
  get downloads(): Locator {
    return this.root.getByRole('region', { name: 'Downloads', exact: true });
  }

  /** The job of `did` in the Downloads list (the newest, when it was downloaded more than once). */
  downloadJob(did: string): Locator {
    return this.downloads.getByRole('listitem', { name: did, exact: true }).first();
  }

  /** The status-bar item that shows while downloads run ("Downloading 3 of 10 files · ..."). */
  get downloadStatus(): Locator {
    return this.page.locator('#jp-main-statusbar').getByRole('button', { name: /^Downloading/ });
  }

  /** The upload form ("Upload to data lake"), shown in the panel above the Uploads list. */
  get uploadForm(): Locator {
    return this.root.getByRole('form', { name: 'Upload to data lake' });
  }

  /** The list of upload jobs of the instance shown. */
  get uploads(): Locator {
    return this.root.getByRole('list', { name: 'Upload jobs' });
  }

  /** The job of `did` in the Uploads list (the newest, when there are several). */
  uploadJob(did: string): Locator {
    return this.uploads.getByRole('listitem', { name: did, exact: true }).first();
  }

  /** The status-bar item that shows while uploads run ("Uploading 1 of 2 files · ..."). */
  get uploadStatus(): Locator {
    return this.page.locator('#jp-main-statusbar').getByRole('button', { name: /^Uploading/ });
  }

  /** Opens a container or dataset of the list (double-click), waiting for its contents. */
  async openDid(name: string, did: string): Promise<void> {
    await this.row(name).dblclick();
    await expect(this.listOf(did)).toBeVisible();
  }
}

/** `text` with the characters that mean something in a regular expression escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
