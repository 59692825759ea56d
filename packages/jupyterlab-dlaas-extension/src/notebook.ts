/**
 * Notebook attachments: the Notebook data panel in the right sidebar, and the commands that
 * attach Data Lake data to the active notebook (as a kernel variable) and remove it.
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, type NotebookPanel } from '@jupyterlab/notebook';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, type TranslationBundle } from '@jupyterlab/translation';
import {
  AttachmentError,
  AttachmentsPanel,
  IDataLake,
  NotebookAttachmentsManager,
  languageDisplayName,
  suggestVariableName,
  variableNameProblem,
  type IAttachment,
  type KernelLanguage,
  type NotebookAttachments
} from '@dlaas/jupyterlab';

/** The notebook attachment commands. */
namespace CommandIDs {
  export const addToNotebook = 'dlaas:add-to-notebook';
  export const removeAttachment = 'dlaas:remove-attachment';
  export const injectAttachments = 'dlaas:inject-attachments';
}

/**
 * The Notebook data panel and the commands `dlaas:add-to-notebook` (args `instance`, `did`,
 * optional `type`), `dlaas:remove-attachment` (optional arg `variable`) and
 * `dlaas:inject-attachments`.
 */
const attachmentsPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dlaas/jupyterlab-extension:notebook-attachments',
  description:
    'Attaches Data Lake data to notebooks as kernel variables (Python, R, Julia), with the Notebook data panel.',
  autoStart: true,
  // The data comes from the Data Lake panel, which also tells when it becomes available.
  requires: [IDataLake, INotebookTracker, ITranslator],
  // The user's agreements to the attachments that come with notebooks are kept in IStateDB.
  optional: [ILayoutRestorer, ICommandPalette, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    lake: IDataLake,
    tracker: INotebookTracker,
    translator: ITranslator,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ): void => {
    const trans = translator.load('dlaas');
    const { client, events } = lake;
    const manager = new NotebookAttachmentsManager<NotebookPanel>({
      tracker,
      client,
      trans,
      events,
      approvals: state
    });

    const panel = new AttachmentsPanel({ attachments: manager, trans });
    panel.title.caption = trans.__('Notebook data');
    app.shell.add(panel, 'right', { rank: 800 });
    restorer?.add(panel, 'dlaas-notebook-data');

    const { commands } = app;
    commands.addCommand(CommandIDs.addToNotebook, {
      label: trans.__('Add to notebook'),
      caption: trans.__('Attach the data to the active notebook as a variable'),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            instance: { type: 'string', description: 'The dlaas instance of the data' },
            did: { type: 'string', description: 'The data identifier, scope:name' },
            type: { type: 'string', enum: ['FILE', 'DATASET', 'CONTAINER'] }
          },
          required: ['instance', 'did']
        }
      },
      execute: args =>
        Private.addToNotebook(
          tracker,
          manager,
          trans,
          String(args['instance'] ?? ''),
          String(args['did'] ?? ''),
          typeof args['type'] === 'string' ? args['type'] : undefined
        )
    });
    commands.addCommand(CommandIDs.removeAttachment, {
      label: trans.__('Remove data from the notebook'),
      caption: trans.__('Detach data from the active notebook'),
      isEnabled: () => (manager.current?.attachments.length ?? 0) > 0,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            variable: {
              type: 'string',
              description: 'The variable of the data to remove; asked for when not given'
            }
          }
        }
      },
      execute: args =>
        Private.removeAttachment(
          tracker,
          manager,
          trans,
          typeof args['variable'] === 'string' ? args['variable'] : undefined
        )
    });
    commands.addCommand(CommandIDs.injectAttachments, {
      label: trans.__("Set the notebook's data variables again"),
      caption: trans.__('Look the attached data up again and set its variables in the kernel'),
      isEnabled: () => (manager.current?.attachments.length ?? 0) > 0,
      execute: async () => {
        const attachments = manager.current;
        if (!attachments) {
          Notification.error(trans.__('Open a notebook first.'), { autoClose: 5000 });
          return;
        }
        await attachments.refresh();
        Private.summarize(attachments, trans);
      }
    });
    const notify = (): void => {
      commands.notifyCommandChanged(CommandIDs.removeAttachment);
      commands.notifyCommandChanged(CommandIDs.injectAttachments);
    };
    const follow = (notebook: NotebookPanel): void => {
      const attachments = manager.get(notebook);
      attachments.changed.connect(notify);
      // The Notebook data panel may be closed: tell the user that the notebook waits for them,
      // until it no longer does.
      let asking: string | null = null;
      attachments.approvalRequested.connect((_, pending) => {
        if (asking !== null) {
          Notification.dismiss(asking);
        }
        asking = Private.askApproval(attachments, pending, trans, () =>
          app.shell.activateById(panel.id)
        );
      });
      attachments.changed.connect(() => {
        if (asking !== null && attachments.pending.length === 0) {
          Notification.dismiss(asking);
          asking = null;
        }
      });
    };
    tracker.forEach(follow);
    tracker.widgetAdded.connect((_, notebook) => follow(notebook));
    manager.currentChanged.connect(notify);

    const category = trans.__('Data Lake');
    for (const command of [CommandIDs.removeAttachment, CommandIDs.injectAttachments]) {
      palette?.addItem({ command, category });
    }
  }
};

/** The notebook plugins of the extension. */
export const notebookPlugins: JupyterFrontEndPlugin<unknown>[] = [attachmentsPlugin];

namespace Private {
  /** Asks for a variable name, attaches `did` to the active notebook and sets the variable. */
  export async function addToNotebook(
    tracker: INotebookTracker,
    manager: NotebookAttachmentsManager<NotebookPanel>,
    trans: TranslationBundle,
    instance: string,
    did: string,
    type: string | undefined
  ): Promise<void> {
    if (!instance || !did.includes(':')) {
      Notification.error(
        trans.__('Select data in the Data Lake panel first, then choose "Add to notebook".'),
        { autoClose: 5000 }
      );
      return;
    }
    const notebook = tracker.currentWidget;
    if (!notebook) {
      Notification.error(
        trans.__('Open a notebook first: "Add to notebook" adds %1 to the active notebook.', did),
        { autoClose: 8000 }
      );
      return;
    }
    await notebook.context.ready;
    const attachments = manager.get(notebook);
    const { language, name } = await attachments.language();
    if (!language && name) {
      Notification.error(
        trans.__(
          "dlaas can inject variables into Python, R and Julia kernels; this notebook's kernel is %1.",
          name
        ),
        { autoClose: false }
      );
      return;
    }
    const variable = await askVariable(attachments, trans, language, instance, did, type);
    if (variable === null) {
      return;
    }
    await attachments.inject();
    report(attachments, [variable], trans);
  }

  /**
   * Asks for the variable's name until it is valid in `language` (or, when the kernel's
   * language is not known yet, in Python) and attaches; null when the user cancels.
   */
  async function askVariable(
    attachments: NotebookAttachments,
    trans: TranslationBundle,
    language: KernelLanguage | null,
    instance: string,
    did: string,
    type: string | undefined
  ): Promise<string | null> {
    const taken = attachments.attachments.map(a => a.variable);
    const holds =
      type === 'FILE'
        ? trans.__('The variable will hold the path of the file.')
        : type === 'DATASET' || type === 'CONTAINER'
          ? trans.__('The variable will hold the list of the paths of its files.')
          : trans.__(
              'The variable will hold the path of the file, or the list of the paths of its files.'
            );
    let text = suggestVariableName(language, did, taken);
    let problem: string | null = null;
    for (;;) {
      const result = await InputDialog.getText({
        title: trans.__('Add %1 to %2', did, attachments.notebook.title.label),
        label:
          problem ??
          (language
            ? trans.__('%1 variable name. %2', languageDisplayName(language), holds)
            : trans.__('Variable name. %1', holds)),
        text,
        okLabel: trans.__('Add'),
        cancelLabel: trans.__('Cancel')
      });
      if (!result.button.accept || result.value === null) {
        return null;
      }
      text = result.value;
      problem = variableNameProblem(language ?? 'python', text, trans);
      if (problem === null) {
        try {
          attachments.attach({ instance, did, variable: text });
          return text;
        } catch (error) {
          if (!(error instanceof AttachmentError)) {
            throw error;
          }
          problem = error.message;
        }
      }
    }
  }

  /** Removes the attachment of `variable` (asked for when not given) from the active notebook. */
  export async function removeAttachment(
    tracker: INotebookTracker,
    manager: NotebookAttachmentsManager<NotebookPanel>,
    trans: TranslationBundle,
    variable: string | undefined
  ): Promise<void> {
    const notebook = tracker.currentWidget;
    if (!notebook) {
      Notification.error(trans.__('Open a notebook first.'), { autoClose: 5000 });
      return;
    }
    const attachments = manager.get(notebook);
    let chosen = variable;
    if (chosen === undefined) {
      const items = attachments.attachments.map(a => a.variable);
      if (items.length === 0) {
        Notification.info(trans.__('No data is attached to %1.', notebook.title.label), {
          autoClose: 5000
        });
        return;
      }
      const result = await InputDialog.getItem({
        title: trans.__('Remove data from %1', notebook.title.label),
        label: trans.__('Variable'),
        items,
        okLabel: trans.__('Remove'),
        cancelLabel: trans.__('Cancel')
      });
      if (!result.button.accept || result.value === null) {
        return;
      }
      chosen = result.value;
    }
    if (!attachments.detach(chosen)) {
      Notification.warning(
        trans.__('No data is attached to %1 as %2.', notebook.title.label, chosen),
        { autoClose: 5000 }
      );
    }
  }

  /**
   * Tells that `attachments` waits for the user to allow `pending`, with Allow at hand; answers
   * the notification's id.
   */
  export function askApproval(
    attachments: NotebookAttachments,
    pending: IAttachment[],
    trans: TranslationBundle,
    showPanel: () => void
  ): string {
    return Notification.warning(
      trans._n(
        '%2 asks to set %1 variable from the data lake: %3. Allow it, or see the details in the Notebook data panel.',
        '%2 asks to set %1 variables from the data lake: %3. Allow them, or see the details in the Notebook data panel.',
        pending.length,
        attachments.notebook.title.label,
        pending.map(a => a.variable).join(', ')
      ),
      {
        autoClose: false,
        actions: [
          {
            label: trans.__('Allow'),
            callback: () => void attachments.allow(pending),
            displayType: 'accent'
          },
          { label: trans.__('Details'), callback: showPanel }
        ]
      }
    );
  }

  /** Tells in one notification how setting every variable of a notebook went. */
  export function summarize(attachments: NotebookAttachments, trans: TranslationBundle): void {
    const statuses = attachments.statuses;
    const failed = statuses.filter(s => s.state === 'failed');
    const set = statuses.filter(s => s.state === 'injected').length;
    const waiting = statuses.filter(s => s.state === 'not-available').length;
    const unapproved = statuses.filter(s => s.state === 'needs-approval').length;
    const summary = [
      trans._n('%1 variable set', '%1 variables set', set),
      trans._n('%1 waiting for its data', '%1 waiting for their data', waiting),
      ...(unapproved > 0
        ? [trans._n('%1 waiting for your approval', '%1 waiting for your approval', unapproved)]
        : []),
      trans._n('%1 failed', '%1 failed', failed.length)
    ].join(', ');
    if (failed.length > 0) {
      Notification.error(trans.__('%1. %2', summary, failed.map(s => s.message ?? '').join(' ')), {
        autoClose: false
      });
    } else {
      Notification.success(trans.__('%1.', summary), { autoClose: 5000 });
    }
  }

  /** Tells how setting `variables` went. */
  export function report(
    attachments: NotebookAttachments,
    variables: string[],
    trans: TranslationBundle
  ): void {
    const notebook = attachments.notebook.title.label;
    for (const variable of variables) {
      const status = attachments.status(variable);
      if (!status) {
        continue;
      }
      const { did } = status.attachment;
      switch (status.state) {
        case 'injected':
          Notification.success(
            trans.__('%1 is in the variable %2 of %3.', did, variable, notebook),
            {
              autoClose: 5000
            }
          );
          break;
        case 'not-available':
          Notification.info(status.message ?? trans.__('%1 is not available yet.', did), {
            autoClose: 8000
          });
          break;
        case 'failed':
          Notification.error(status.message ?? trans.__('The variable %1 was not set.', variable), {
            autoClose: false
          });
          break;
        case 'needs-approval':
        case 'waiting':
        case 'injecting':
          Notification.info(
            trans.__(
              '%1 is attached to %2 as %3; the variable is set when the kernel is ready.',
              did,
              notebook,
              variable
            ),
            { autoClose: 5000 }
          );
          break;
      }
    }
  }
}
