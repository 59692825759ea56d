import { Token } from '@lumino/coreutils';
import type { DataLakeClient } from './client';
import type { AvailabilityEvents } from './events';
import type { DataLakeSidebar } from './sidebar';

/** The data lake as the extension's plugins share it. */
export interface IDataLake {
  /** The companion's API. */
  readonly client: DataLakeClient;
  /** Live availability of the DIDs on screen. */
  readonly events: AvailabilityEvents;
  /** The Data Lake sidebar. */
  readonly sidebar: DataLakeSidebar;
}

/** The data lake: the companion's API, live availability and the sidebar. */
export const IDataLake = new Token<IDataLake>(
  '@dlaas/jupyterlab:IDataLake',
  'The data lake: the companion API client, live availability events and the Data Lake sidebar.'
);
