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
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
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
  formatDuration,
  jupyterTransport,
  statusText,
  type IDataLakeActions
} from '@dlaas/jupyterlab';
import { Signal } from '@lumino/signaling';
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
}

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

/** A status-bar item while downloads run: files done of all, and the rate; opens the list. */
const downloadsStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dlaas/jupyterlab-extension:downloads-status',
  description: 'Shows the Data Lake downloads under way in the status bar.',
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
    const tracker = lake.sidebar.downloads;
    const item = new Widget();
    item.addClass('jp-DataLake-downloadStatus');
    const activeChanged = new Signal<Widget, void>(item);
    let active = false;
    const render = (): void => {
      const running = tracker.active;
      item.node.textContent = statusText(running, trans) ?? '';
      const left = running.map(job => job.secondsLeft).filter(s => s !== null);
      item.node.title =
        left.length > 0
          ? trans.__(
              'Data Lake downloads under way, about %1 left; click to see them',
              formatDuration(Math.max(...left))
            )
          : trans.__('Data Lake downloads under way; click to see them');
      if (active !== running.length > 0) {
        active = running.length > 0;
        activeChanged.emit();
      }
    };
    render();
    item.node.setAttribute('role', 'button');
    item.node.tabIndex = 0;
    const openList = (): void =>
      void app.commands.execute(CommandIDs.showDownloads, {
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
    statusBar.registerStatusItem('@dlaas/jupyterlab-extension:downloads-status', {
      item,
      align: 'left',
      rank: 6,
      isActive: () => active,
      activeStateChanged: activeChanged
    });
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

export default [sidebarPlugin, statusPlugin, downloadsStatusPlugin, ...notebookPlugins];
