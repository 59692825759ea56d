import type { TranslationBundle } from '@jupyterlab/translation';
import { createContext, useContext } from 'react';
import type { DataLakeClient } from './client';
import type { AvailabilityEvents } from './events';
import type { MountProblemNotice } from './notifier';

/** What the panel asks of JupyterLab around it; the extension's plugins provide it. */
export interface IDataLakeActions {
  /** Shows `localPath` (a file or folder, absolute) in JupyterLab's file browser. */
  openInFileBrowser(localPath: string): Promise<void>;
  /** Copies `text` to the clipboard and says so. */
  copyPath(text: string, what: string): void;
  /** Attaches a DID to the active notebook; undefined where notebooks are not available. */
  addToNotebook?(instance: string, did: string, type: string): Promise<void>;
}

/** Everything the panel's views share. */
export interface IDataLakeContext {
  client: DataLakeClient;
  events: AvailabilityEvents;
  trans: TranslationBundle;
  actions: IDataLakeActions;
  /** Says, once a session, why an instance's data lake folder could not be mounted. */
  mountProblems: MountProblemNotice;
}

/** The panel's shared services, provided by the sidebar widget. */
export const DataLakeContext = createContext<IDataLakeContext | null>(null);

/** The panel's shared services; only inside a {@link DataLakeContext} provider. */
export function useDataLake(): IDataLakeContext {
  const context = useContext(DataLakeContext);
  if (!context) {
    throw new Error('useDataLake needs a DataLakeContext provider');
  }
  return context;
}
