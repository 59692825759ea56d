/**
 * `@dlaas/jupyterlab-extension`: the plugins that put the Data Lake panel into JupyterLab — the
 * sidebar and its commands, the status-bar item, and notebook attachments.
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { PageConfig, PathExt, URLExt } from '@jupyterlab/coreutils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, type TranslationBundle } from '@jupyterlab/translation';
import {
  AvailabilityEvents,
  COMPANION_PATH,
  DataLakeClient,
  DataLakeSidebar,
  IDataLake,
  followTransfers,
  TransferWatcher,
  announceDownload,
  announceUpload,
  dataLakeIcon,
  formatDuration,
  jupyterTransport,
  localPathFor,
  statusText,
  uploadStatusText,
  type IDataLakeActions,
  type ITransferJob
} from '@dlaas/jupyterlab';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { Signal, type ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { notebookPlugins } from './notebook';

/** The extension's command ids. */
namespace CommandIDs {
  export const open = 'dlaas:open';
  export const search = 'dlaas:search';
  export const makeAvailable = 'dlaas:make-available';
  export const refresh = 'dlaas:refresh';
  export const addToNotebook = 'dlaas:add-to-notebook';
  export const showDownloads = 'dlaas:show-downloads';
  export const upload = 'dlaas:upload';
  export const uploadOutputs = 'dlaas:upload-notebook-outputs';
  export const showUploads = 'dlaas:show-uploads';
}

/** The folder beside a notebook that {@link CommandIDs.uploadOutputs} uploads. */
const OUTPUTS_FOLDER = 'outputs';

const PLUGIN_ID = '@dlaas/jupyterlab-extension:sidebar';

/** The Data Lake sidebar, its commands and settings; provides {@link IDataLake}. */
const sidebarPlugin: JupyterFrontEndPlugin<IDataLake> = {
  id: PLUGIN_ID,
  description: 'The Data Lake sidebar: search, browse and make data available.',
  autoStart: true,
  provides: IDataLake,
  optional: [ITranslator, ILayoutRestorer, ISettingRegistry, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null
  ): IDataLake => {
    const trans = (translator ?? nullTranslator).load('dlaas');
    const settings = app.serviceManager.serverSettings;
    const client = new DataLakeClient(jupyterTransport(settings), trans);
    const events = new AvailabilityEvents((instance, dids) =>
      URLExt.join(settings.baseUrl, COMPANION_PATH, client.eventsPath(instance, dids))
    );
    const actions = Private.actions(app, trans, client);
    const sidebar = new DataLakeSidebar({ client, events, trans, actions });
    sidebar.title.caption = trans.__('Data Lake');
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, 'dlaas');

    // The notifications for replications that end while JupyterLab is open.
    new TransferWatcher(events, ({ availability, outcome }) => {
      if (outcome === 'available') {
        Notification.success(trans.__('%1 is available.', availability.did), {
          autoClose: 5000
        });
      } else {
        Notification.error(
          trans.__(
            '%1 could not be made available: %2',
            availability.did,
            availability.error ?? trans.__('Rucio gave no reason.')
          ),
          { autoClose: false }
        );
      }
    });

    // Replications started before a reload are counted and reported too, also when the companion
    // or Rucio is away at start (it asks again later). Not awaited: the panel shows what is wrong
    // with an instance (not signed in, unreachable) when it is used.
    void app.restored.then(() => followTransfers(client, events)).catch(() => undefined);

    // Download jobs: those running at a reload are followed too; each end seen is announced.
    sidebar.downloads.ended.connect((_, job) =>
      announceDownload(job, trans, folder => void actions.openInFileBrowser(folder))
    );
    void app.restored.then(() => sidebar.downloads.start());

    const { commands } = app;
    commands.addCommand(CommandIDs.open, {
      label: trans.__('Open the Data Lake panel'),
      execute: () => app.shell.activateById(sidebar.id)
    });
    commands.addCommand(CommandIDs.search, {
      label: trans.__('Search the Data Lake'),
      execute: () => {
        app.shell.activateById(sidebar.id);
        sidebar.focusSearch();
      }
    });
    commands.addCommand(CommandIDs.makeAvailable, {
      label: trans.__('Make the selected data available'),
      isEnabled: args => Boolean((args['did'] && args['instance']) || sidebar.selection),
      execute: async args => {
        const instance = (args['instance'] as string | undefined) ?? sidebar.selection?.instance;
        const did = (args['did'] as string | undefined) ?? sidebar.selection?.did;
        if (!instance || !did) {
          Notification.warning(trans.__('Select data in the Data Lake panel first.'));
          return;
        }
        try {
          const availability = await sidebar.makeAvailable(instance, did);
          if (availability.state === 'AVAILABLE') {
            Notification.success(trans.__('%1 is available.', did), { autoClose: 5000 });
          } else {
            Notification.info(trans.__('Making %1 available…', did), { autoClose: 3000 });
          }
        } catch (error) {
          Notification.error((error as Error).message, { autoClose: false });
        }
      }
    });
    commands.addCommand(CommandIDs.showDownloads, {
      label: trans.__('Show the Data Lake downloads'),
      execute: args => {
        app.shell.activateById(sidebar.id);
        sidebar.showDownloads(args['instance'] as string | undefined);
      }
    });
    commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh the Data Lake panel'),
      execute: () => sidebar.refresh()
    });
    sidebar.selectionChanged.connect(() => commands.notifyCommandChanged(CommandIDs.makeAvailable));
    const category = trans.__('Data Lake');
    for (const command of [
      CommandIDs.open,
      CommandIDs.search,
      CommandIDs.makeAvailable,
      CommandIDs.showDownloads,
      CommandIDs.refresh
    ]) {
      palette?.addItem({ command, category });
    }

    if (settingRegistry) {
      void Promise.all([settingRegistry.load(PLUGIN_ID), app.restored])
        .then(([loaded]) => {
          const apply = (): void => {
            sidebar.settings = {
              defaultInstance: loaded.get('defaultInstance').composite as string,
              searchDelay: loaded.get('searchDelay').composite as number
            };
          };
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          Notification.warning(
            trans.__(
              'The Data Lake settings could not be read (%1); defaults are used.',
              String(reason)
            )
          );
        });
    }
    return { client, events, sidebar };
  }
};

/** A status-bar item: how many replications are under way. */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dlaas/jupyterlab-extension:status',
  description: 'Shows the number of replications under way in the status bar.',
  autoStart: true,
  requires: [IDataLake, IStatusBar],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    lake: IDataLake,
    statusBar: IStatusBar,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('dlaas');
    const item = new Widget();
    item.addClass('jp-DataLake-status');
    const activeChanged = new Signal<Widget, void>(item);
    const render = (): void => {
      item.node.textContent = trans._n(
        'Data Lake: %1 transfer',
        'Data Lake: %1 transfers',
        lake.events.active
      );
      item.node.title = trans.__(
        'Replications to the scratch disk under way; click to open the panel'
      );
    };
    render();
    // A button for the keyboard and screen readers too: Enter or Space opens the panel.
    item.node.setAttribute('role', 'button');
    item.node.tabIndex = 0;
    const openPanel = (): void => app.shell.activateById(lake.sidebar.id);
    item.node.addEventListener('click', openPanel);
    item.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        openPanel();
      }
    });
    lake.events.activeChanged.connect(() => {
      render();
      activeChanged.emit();
    });
    statusBar.registerStatusItem('@dlaas/jupyterlab-extension:status', {
      item,
      align: 'left',
      rank: 5,
      isActive: () => lake.events.active > 0,
      activeStateChanged: activeChanged
    });
  }
};

/**
 * Upload to data lake: the file browser's context menu on files and folders, and a command for
 * the current notebook's `outputs` folder; both open the upload form in the Data Lake panel.
 */
const uploadPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dlaas/jupyterlab-extension:upload',
  description: 'Upload files and folders of the file browser into the Data Lake.',
  autoStart: true,
  requires: [IDataLake],
  optional: [ITranslator, IDefaultFileBrowser, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    lake: IDataLake,
    translator: ITranslator | null,
    fileBrowser: IDefaultFileBrowser | null,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null
  ) => {
    const trans = (translator ?? nullTranslator).load('dlaas');
    const { sidebar } = lake;
    const open = (browserPaths: string[]): void => {
      const root = PageConfig.getOption('serverRoot');
      const paths = browserPaths.map(path => localPathFor(path, root));
      if (paths.length === 0) {
        Notification.warning(
          trans.__('Select files or folders in the file browser first, then upload them.')
        );
        return;
      }
      if (paths.some(path => path === null)) {
        Notification.warning(
          trans.__(
            'This Jupyter server does not say which folder it serves, so the files cannot be found for the upload. Type their paths in a notebook instead, or update JupyterLab.'
          ),
          { autoClose: 8000 }
        );
        return;
      }
      app.shell.activateById(sidebar.id);
      sidebar.showUploads({ paths: paths as string[] });
    };
    app.commands.addCommand(CommandIDs.upload, {
      label: trans.__('Upload to data lake'),
      caption: trans.__('Upload the selected files and folders into a dataset of the data lake'),
      icon: args => (args['isPalette'] ? undefined : dataLakeIcon),
      isEnabled: args =>
        Boolean(args['paths']) || Boolean(fileBrowser && !fileBrowser.selectedItems().next().done),
      execute: args => {
        const given = args['paths'] as string[] | undefined;
        const selected = fileBrowser ? [...fileBrowser.selectedItems()].map(item => item.path) : [];
        open(given ?? selected);
      }
    });
    app.commands.addCommand(CommandIDs.uploadOutputs, {
      label: trans.__('Upload the notebook’s outputs folder to data lake'),
      caption: trans.__('Upload the folder "outputs" beside the current notebook'),
      isEnabled: () => Boolean(notebooks?.currentWidget),
      execute: async () => {
        const notebook = notebooks?.currentWidget;
        if (!notebook) {
          Notification.warning(trans.__('Open a notebook first.'));
          return;
        }
        const folder = PathExt.join(PathExt.dirname(notebook.context.path), OUTPUTS_FOLDER);
        try {
          await app.serviceManager.contents.get(folder, { content: false });
        } catch {
          Notification.warning(
            trans.__(
              'There is no folder %1 beside the notebook. Have the notebook write its results there, then upload again.',
              folder || OUTPUTS_FOLDER
            ),
            { autoClose: 8000 }
          );
          return;
        }
        open([folder]);
      }
    });
    app.commands.addCommand(CommandIDs.showUploads, {
      label: trans.__('Show the Data Lake uploads'),
      execute: args => {
        app.shell.activateById(sidebar.id);
        sidebar.showUploads({ instance: args['instance'] as string | undefined });
      }
    });
    for (const command of [CommandIDs.uploadOutputs, CommandIDs.showUploads]) {
      palette?.addItem({ command, category: trans.__('Data Lake') });
    }

    // Upload jobs: those running at a reload are followed too; each end seen is announced.
    sidebar.uploads.ended.connect((_, job) =>
      announceUpload(
        job,
        trans,
        ended => void app.commands.execute(CommandIDs.showUploads, { instance: ended.instance })
      )
    );
    void app.restored.then(() => sidebar.uploads.start());
  }
};

namespace Private {
  /** What the panel asks of JupyterLab. */
  export function actions(
    app: JupyterFrontEnd,
    trans: TranslationBundle,
    client: DataLakeClient
  ): IDataLakeActions {
    let home: Promise<string | undefined> | undefined;
    return {
      openInFileBrowser: async localPath => {
        // JupyterLab writes a root below the home directory as `~/...`; the companion knows home.
        home ??= client.instances().then(
          answer => answer.home,
          () => undefined
        );
        const relative = relativeToServerRoot(localPath, await home);
        if (relative === null) {
          Notification.warning(
            trans.__(
              'The file browser shows only the folder this Jupyter server serves, and %1 lies outside it. Use Copy path instead.',
              localPath
            ),
            { autoClose: 8000 }
          );
          return;
        }
        try {
          await app.commands.execute('filebrowser:activate', { path: relative });
          await app.commands.execute('filebrowser:go-to-path', { path: relative });
        } catch (error) {
          Notification.error(
            trans.__(
              'The file browser could not open %1 (%2). Use Copy path instead, or try again once the copy has finished.',
              relative,
              reasonOf(error)
            ),
            { autoClose: 8000 }
          );
        }
      },
      copyPath: (text, what) => {
        Clipboard.copyToSystem(text);
        Notification.success(trans.__('Copied the %1.', what), { autoClose: 3000 });
      },
      addToNotebook: async (instance, did, type) => {
        if (!app.commands.hasCommand(CommandIDs.addToNotebook)) {
          Notification.warning(trans.__('Notebooks are not available in this JupyterLab.'));
          return;
        }
        try {
          await app.commands.execute(CommandIDs.addToNotebook, { instance, did, type });
        } catch (error) {
          Notification.error(
            trans.__(
              'Could not add %1 to the notebook (%2). Try again from the Data Lake panel.',
              did,
              reasonOf(error)
            )
          );
        }
      }
    };
  }

  /** The jobs a status item follows. */
  interface IJobTracker<J extends ITransferJob> {
    readonly active: J[];
    readonly changed: ISignal<unknown, void>;
  }

  /**
   * A plugin with a status-bar item while jobs of one kind run (downloads, uploads): `text` of
   * the running jobs, a tooltip with the longest time left, and a click (or Enter) that runs
   * `command` for the instance of the first running job.
   */
  export function jobStatusPlugin<J extends ITransferJob>(options: {
    id: string;
    description: string;
    rank: number;
    tracker(lake: IDataLake): IJobTracker<J>;
    text(jobs: J[], trans: TranslationBundle): string | null;
    title(left: string | null, trans: TranslationBundle): string;
    command: string;
  }): JupyterFrontEndPlugin<void> {
    return {
      id: options.id,
      description: options.description,
      autoStart: true,
      requires: [IDataLake, IStatusBar],
      optional: [ITranslator],
      activate: (
        app: JupyterFrontEnd,
        lake: IDataLake,
        statusBar: IStatusBar,
        translator: ITranslator | null
      ) => {
        const trans = (translator ?? nullTranslator).load('dlaas');
        const tracker = options.tracker(lake);
        const item = new Widget();
        item.addClass('jp-DataLake-downloadStatus');
        const activeChanged = new Signal<Widget, void>(item);
        let active = false;
        const render = (): void => {
          const running = tracker.active;
          item.node.textContent = options.text(running, trans) ?? '';
          const left = running.map(job => job.secondsLeft).filter(s => s !== null);
          item.node.title = options.title(
            left.length > 0 ? formatDuration(Math.max(...left)) : null,
            trans
          );
          if (active !== running.length > 0) {
            active = running.length > 0;
            activeChanged.emit();
          }
        };
        render();
        item.node.setAttribute('role', 'button');
        item.node.tabIndex = 0;
        const openList = (): void =>
          void app.commands.execute(options.command, {
            ...(tracker.active[0] ? { instance: tracker.active[0].instance } : {})
          });
        item.node.addEventListener('click', openList);
        item.node.addEventListener('keydown', event => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            openList();
          }
        });
        tracker.changed.connect(render);
        statusBar.registerStatusItem(options.id, {
          item,
          align: 'left',
          rank: options.rank,
          isActive: () => active,
          activeStateChanged: activeChanged
        });
      }
    };
  }

  /** What a failed command said, for a notification. */
  function reasonOf(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }

  /** A local path relative to the Jupyter server's root folder, or null when outside it. */
  export function relativeToServerRoot(localPath: string, home: string | undefined): string | null {
    let root = PageConfig.getOption('serverRoot').replace(/\/+$/, '');
    if (root === '~' || root.startsWith('~/')) {
      if (!home) {
        return null;
      }
      root = home.replace(/\/+$/, '') + root.slice(1);
    }
    if (!root) {
      return null;
    }
    if (localPath === root) {
      return '';
    }
    return localPath.startsWith(root + '/') ? localPath.slice(root.length + 1) : null;
  }
}

// After Private, whose functions they call as the module loads.
/** A status-bar item while downloads run: files done of all, and the rate; opens the list. */
const downloadsStatusPlugin = Private.jobStatusPlugin({
  id: '@dlaas/jupyterlab-extension:downloads-status',
  description: 'Shows the Data Lake downloads under way in the status bar.',
  rank: 6,
  tracker: lake => lake.sidebar.downloads,
  text: (jobs, trans) => statusText(jobs, trans),
  title: (left, trans) =>
    left === null
      ? trans.__('Data Lake downloads under way; click to see them')
      : trans.__('Data Lake downloads under way, about %1 left; click to see them', left),
  command: CommandIDs.showDownloads
});

/** A status-bar item while uploads run: files done of all, and the rate; opens the list. */
const uploadsStatusPlugin = Private.jobStatusPlugin({
  id: '@dlaas/jupyterlab-extension:uploads-status',
  description: 'Shows the Data Lake uploads under way in the status bar.',
  rank: 7,
  tracker: lake => lake.sidebar.uploads,
  text: (jobs, trans) => uploadStatusText(jobs, trans),
  title: (left, trans) =>
    left === null
      ? trans.__('Data Lake uploads under way; click to see them')
      : trans.__('Data Lake uploads under way, about %1 left; click to see them', left),
  command: CommandIDs.showUploads
});

export default [
  sidebarPlugin,
  statusPlugin,
  downloadsStatusPlugin,
  uploadsStatusPlugin,
  uploadPlugin,
  ...notebookPlugins
];
