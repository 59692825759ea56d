import type { Availability } from '@dlaas/api';
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Signal, type ISignal } from '@lumino/signaling';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import React, { createRef } from 'react';
import type { DataLakeClient } from './client';
import { DataLakeContext, type IDataLakeActions, type IDataLakeContext } from './context';
import { DataLakeView, type ISelection } from './components/DataLakeView';
import { DownloadTracker } from './downloads';
import type { AvailabilityEvents } from './events';
import { keys, queryDefaults } from './hooks';
import { MountProblemNotice } from './notifier';
import { UploadTracker } from './uploads';
import { dataLakeIcon } from './icons';

/** Options of {@link DataLakeSidebar}. */
export interface IDataLakeSidebarOptions {
  client: DataLakeClient;
  events: AvailabilityEvents;
  trans: TranslationBundle;
  actions: IDataLakeActions;
}

/** The panel's settings, from the Settings Editor. */
export interface IDataLakeSettings {
  defaultInstance: string;
  searchDelay: number;
}

/**
 * The Data Lake sidebar: a Lumino widget around the React panel. It owns the panel's
 * react-query cache (cleared on dispose) and never waits for the network to exist.
 */
export class DataLakeSidebar extends ReactWidget {
  constructor(options: IDataLakeSidebarOptions) {
    super();
    this.id = 'dlaas-sidebar';
    this.addClass('jp-DataLake');
    this.title.icon = dataLakeIcon;
    this.title.caption = options.trans.__('Data Lake');
    this._context = { ...options, mountProblems: new MountProblemNotice(options.trans) };
    this._queryClient = new QueryClient({ defaultOptions: { queries: queryDefaults() } });
    this.downloads = new DownloadTracker(options.client, this._queryClient);
    this.uploads = new UploadTracker(options.client, this._queryClient);
  }

  /**
   * The download jobs of every instance, sharing the panel's cache; {@link DownloadTracker.start}
   * begins following them.
   */
  readonly downloads: DownloadTracker;

  /**
   * The upload jobs of every instance, sharing the panel's cache; {@link UploadTracker.start}
   * begins following them.
   */
  readonly uploads: UploadTracker;

  /**
   * Shows the Uploads list, of `instance` when given, with the upload form for `paths` (local
   * paths, absolute or `~/...`) when given.
   */
  showUploads(options: { instance?: string; paths?: string[] } = {}): void {
    this._showUploads = { ...options };
    this.update();
  }

  /** Shows the Downloads list, of `instance` when given. */
  showDownloads(instance?: string): void {
    this._showDownloads = instance ? { instance } : {};
    this.update();
  }

  /** The DID the user has selected, if any. */
  get selection(): ISelection | null {
    return this._selection;
  }

  /** Emitted when the selection changes. */
  get selectionChanged(): ISignal<this, ISelection | null> {
    return this._selectionChanged;
  }

  /** Applies changed settings. */
  set settings(settings: IDataLakeSettings) {
    this._settings = settings;
    this.update();
  }

  /** Moves the keyboard focus to the search box. */
  focusSearch(): void {
    // On the next frames: the panel may only now be shown and drawn, and a command run from the
    // palette returns the focus to where it was when the palette closes, after the command ran.
    let frames = 0;
    const focus = (): void => {
      const input = this._input.current;
      if (input && input.offsetParent !== null) {
        input.focus();
        input.select();
      } else if (frames++ < 60 && !this.isDisposed) {
        requestAnimationFrame(focus);
      }
    };
    requestAnimationFrame(focus);
  }

  /** Makes a DID available, updating every view of it. */
  async makeAvailable(instance: string, did: string): Promise<Availability> {
    const { availability } = await this._context.client.makeAvailable(instance, did);
    this._queryClient.setQueryData(keys.availability(instance, did), availability);
    if (availability.state === 'REPLICATING') {
      this._context.events.follow(instance, did);
    }
    return availability;
  }

  /** Refetches everything shown. */
  refresh(): void {
    void this._queryClient.invalidateQueries();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.downloads.dispose();
    this.uploads.dispose();
    this._queryClient.clear();
    Signal.clearData(this);
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <QueryClientProvider client={this._queryClient}>
        <DataLakeContext.Provider value={this._context}>
          <DataLakeView
            preferredInstance={this._settings.defaultInstance || undefined}
            searchDelay={this._settings.searchDelay}
            inputRef={this._input}
            onSelection={this._onSelection}
            showDownloads={this._showDownloads}
            showUploads={this._showUploads}
          />
        </DataLakeContext.Provider>
      </QueryClientProvider>
    );
  }

  private readonly _onSelection = (selection: ISelection | null): void => {
    this._selection = selection;
    this._selectionChanged.emit(selection);
  };

  private readonly _context: IDataLakeContext;
  private readonly _queryClient: QueryClient;
  private readonly _input = createRef<HTMLInputElement>();
  private _settings: IDataLakeSettings = { defaultInstance: '', searchDelay: 300 };
  private _selection: ISelection | null = null;
  private _showDownloads: { instance?: string } | null = null;
  private _showUploads: { instance?: string; paths?: string[] } | null = null;
  private readonly _selectionChanged = new Signal<this, ISelection | null>(this);
}
