import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, LabIcon, ReactWidget } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import React, { useEffect, useId, useState } from 'react';
import type {
  AttachmentState,
  IAttachment,
  IAttachmentStatus,
  NotebookAttachments
} from './attachments';

/** The Notebook data panel's icon: a page with a small database. */
export const notebookDataIcon = new LabIcon({
  name: 'dlaas:notebook-data',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M5 2h10l4 4v6.2a6 6 0 0 0-1.5-.2V7h-3.5V3.5H6.5v17H11a5 5 0 0 0 .6 1.5H5a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z"/>
    <ellipse cx="17.5" cy="14.6" rx="4.5" ry="1.6"/>
    <path d="M13 16v2.4c0 .9 2 1.6 4.5 1.6s4.5-.7 4.5-1.6V16c-1 .7-2.7 1.1-4.5 1.1S14 16.7 13 16zm0 3.4v2c0 .9 2 1.6 4.5 1.6s4.5-.7 4.5-1.6v-2c-1 .7-2.7 1.1-4.5 1.1s-3.5-.4-4.5-1.1z"/>
  </g>
</svg>`
});

/** Which notebook's attachments to show: a `NotebookAttachmentsManager`. */
export interface ICurrentAttachments {
  /** The attachments of the current notebook, or null when no notebook is open. */
  readonly current: NotebookAttachments | null;
  /** Emitted when the current notebook changes. */
  readonly currentChanged: ISignal<unknown, NotebookAttachments | null>;
}

/** Options of {@link AttachmentsPanel}. */
export interface IAttachmentsPanelOptions {
  attachments: ICurrentAttachments;
  trans: TranslationBundle;
}

/**
 * The Notebook data panel: the data attached to the current notebook, with the state of each
 * variable in its kernel, a Remove button per attachment and an "Inject again" button; above
 * them, when attachments came with the notebook, a notice that asks the user to allow them.
 */
export class AttachmentsPanel extends ReactWidget {
  constructor(options: IAttachmentsPanelOptions) {
    super();
    this._options = options;
    this.id = 'dlaas-notebook-data';
    this.addClass('jp-DataLake-attachments');
    this.title.icon = notebookDataIcon;
    this.title.caption = options.trans.__('Notebook data');
  }

  protected render(): JSX.Element {
    return <AttachmentsView {...this._options} />;
  }

  private readonly _options: IAttachmentsPanelOptions;
}

/** The Notebook data panel's content; follows the current notebook. */
export function AttachmentsView(props: IAttachmentsPanelOptions): JSX.Element {
  const { trans } = props;
  const notebook = useCurrent(props.attachments);
  const statuses = useStatuses(notebook);
  const headingId = useId();
  const label = notebook?.notebook.title.label ?? '';
  const pending = statuses.filter(s => s.state === 'needs-approval').map(s => s.attachment);

  return (
    <section className="jp-DataLake-attachments-body" aria-labelledby={headingId}>
      <h2 id={headingId} className="jp-DataLake-attachments-heading">
        {trans.__('Notebook data')}
      </h2>
      {!notebook && (
        <p className="jp-DataLake-attachments-empty">
          {trans.__('Open a notebook to see the data attached to it.')}
        </p>
      )}
      {notebook && statuses.length === 0 && (
        <p className="jp-DataLake-attachments-empty">
          {trans.__(
            'No data is attached to %1. In the Data Lake panel, select data and choose "Add to notebook".',
            label
          )}
        </p>
      )}
      {notebook && pending.length > 0 && (
        <ApprovalNotice
          pending={pending}
          trans={trans}
          onAllow={() => void notebook.allow(pending)}
        />
      )}
      {notebook && statuses.length > 0 && (
        <>
          <ul
            className="jp-DataLake-attachments-list"
            aria-label={trans.__('Data attached to %1', label)}
          >
            {statuses.map(status => (
              <AttachmentRow
                key={status.attachment.variable}
                status={status}
                trans={trans}
                onRemove={() => notebook.detach(status.attachment.variable)}
              />
            ))}
          </ul>
          <Button
            className="jp-mod-styled jp-mod-accept jp-DataLake-attachments-inject"
            onClick={() => void notebook.refresh()}
            title={trans.__('Look the data up again and set every variable in the kernel')}
          >
            {trans.__('Inject again')}
          </Button>
        </>
      )}
    </section>
  );
}

/** Asks the user to allow the attachments that came with the notebook. */
function ApprovalNotice(props: {
  pending: IAttachment[];
  trans: TranslationBundle;
  onAllow: () => void;
}): JSX.Element {
  const { pending, trans } = props;
  const questionId = useId();
  return (
    <section className="jp-DataLake-attachments-approval" aria-labelledby={questionId}>
      <p id={questionId} className="jp-DataLake-attachments-approval-question">
        {trans._n(
          'This notebook asks to set %1 variable from the data lake: %2. Allow?',
          'This notebook asks to set %1 variables from the data lake: %2. Allow?',
          pending.length,
          pending.map(a => a.variable).join(', ')
        )}
      </p>
      <details className="jp-DataLake-attachments-approval-details">
        <summary>{trans.__('Details')}</summary>
        <p>
          {trans.__(
            "These attachments came with the notebook: they were written into it elsewhere, for example by whoever shared it, not added in this JupyterLab. Allowing sets each variable in this notebook's kernel to the local paths of its data, now and after every restart. You are asked again if the notebook's attachments change. Until you allow them, nothing is set; remove the ones you do not want."
          )}
        </p>
        <ul>
          {pending.map(a => (
            <li key={a.variable}>
              {trans.__('%1 ← %2 (instance %3)', a.variable, a.did, a.instance)}
            </li>
          ))}
        </ul>
      </details>
      <Button
        className="jp-mod-styled jp-mod-accept jp-DataLake-attachments-allow"
        onClick={props.onAllow}
        title={trans.__('Set these variables in the kernel, and remember this for this notebook')}
      >
        {trans.__('Allow')}
      </Button>
    </section>
  );
}

function AttachmentRow(props: {
  status: IAttachmentStatus;
  trans: TranslationBundle;
  onRemove: () => void;
}): JSX.Element {
  const { status, trans } = props;
  const { variable, did, instance } = status.attachment;
  return (
    <li
      className={`jp-DataLake-attachments-item jp-mod-${status.state}`}
      aria-label={trans.__('%1: %2', variable, did)}
    >
      <div className="jp-DataLake-attachments-line">
        <code className="jp-DataLake-attachments-variable">{variable}</code>
        <span className="jp-DataLake-attachments-state">{stateLabel(status, trans)}</span>
      </div>
      <div className="jp-DataLake-attachments-did" title={did}>
        {did}
      </div>
      <div className="jp-DataLake-attachments-instance">{trans.__('Instance: %1', instance)}</div>
      {status.message && (
        <p
          className="jp-DataLake-attachments-message"
          role={status.state === 'failed' ? 'alert' : undefined}
        >
          {status.message}
        </p>
      )}
      <Button
        className="jp-mod-styled jp-mod-reject jp-DataLake-attachments-remove"
        aria-label={trans.__('Remove %1', variable)}
        title={trans.__(
          'Detach %1 from this notebook; the kernel keeps %2 until it restarts',
          did,
          variable
        )}
        onClick={props.onRemove}
      >
        {trans.__('Remove')}
      </Button>
    </li>
  );
}

/** A short word for a state, as the row shows it. */
function stateLabel(status: IAttachmentStatus, trans: TranslationBundle): string {
  const labels: Record<AttachmentState, string> = {
    'needs-approval': trans.__('Waiting for your approval'),
    waiting: trans.__('Waiting for the kernel'),
    injecting: trans.__('Setting…'),
    injected:
      status.paths === null || status.paths === 1
        ? trans.__('Injected')
        : trans._n('Injected: %1 path', 'Injected: %1 paths', status.paths),
    'not-available': trans.__('Not available yet'),
    failed: trans.__('Failed')
  };
  return labels[status.state];
}

/** The current notebook's attachments, following the tracker. */
function useCurrent(attachments: ICurrentAttachments): NotebookAttachments | null {
  const [current, setCurrent] = useState(attachments.current);
  useEffect(() => {
    setCurrent(attachments.current);
    const follow = (_: unknown, next: NotebookAttachments | null): void => setCurrent(next);
    attachments.currentChanged.connect(follow);
    return () => {
      attachments.currentChanged.disconnect(follow);
    };
  }, [attachments]);
  return current;
}

/** The statuses of `notebook`'s attachments, updated as they change. */
function useStatuses(notebook: NotebookAttachments | null): IAttachmentStatus[] {
  const [statuses, setStatuses] = useState<IAttachmentStatus[]>(notebook?.statuses ?? []);
  useEffect(() => {
    setStatuses(notebook?.statuses ?? []);
    if (!notebook || notebook.isDisposed) {
      return undefined;
    }
    const update = (_: unknown, next: IAttachmentStatus[]): void => setStatuses(next);
    notebook.changed.connect(update);
    return () => {
      notebook.changed.disconnect(update);
    };
  }, [notebook]);
  return statuses;
}
