import { Button } from '@jupyterlab/ui-components';
import React from 'react';
import { useDataLake } from '../context';
import type { IFailure } from '../hooks';

/**
 * A failure's sentence, announced to screen readers; with `onRetry`, a Try again button beside
 * it, for failures that may pass (the network, Rucio, the companion restarting). With
 * `retrying`, the panel asks again by itself (Rucio cannot be reached): it says so instead.
 */
export function ErrorMessage(props: {
  error: { message: string };
  retrying?: boolean;
  onRetry?: () => void;
}): JSX.Element {
  const { trans } = useDataLake();
  const { onRetry, retrying } = props;
  return (
    <div className="jp-DataLake-errorBlock">
      <p className="jp-DataLake-error" role="alert">
        {props.error.message}
        {retrying && (
          <span className="jp-DataLake-retrying"> {trans.__('dlaas tries again by itself.')}</span>
        )}
      </p>
      {onRetry && !retrying && (
        <Button className="jp-mod-styled" small onClick={() => onRetry()}>
          {trans.__('Try again')}
        </Button>
      )}
    </div>
  );
}

/** A query's failure (see {@link failureOf}), if any, with Try again when it does not retry. */
export function QueryFailure(props: {
  failure: IFailure | null;
  onRetry: () => void;
}): JSX.Element | null {
  const { failure } = props;
  return failure ? (
    <ErrorMessage error={failure.error} retrying={failure.retrying} onRetry={props.onRetry} />
  ) : null;
}
