import { Button } from '@jupyterlab/ui-components';
import React from 'react';
import type { DataLakeError } from '../client';
import { useDataLake } from '../context';

/**
 * A failure's sentence, announced to screen readers; with `onRetry`, a Try again button beside
 * it, for failures that may pass (the network, Rucio, the companion restarting).
 */
export function ErrorMessage(props: {
  error: DataLakeError | Error;
  onRetry?: () => void;
}): JSX.Element {
  const { trans } = useDataLake();
  const { onRetry } = props;
  return (
    <div className="jp-DataLake-errorBlock">
      <p className="jp-DataLake-error" role="alert">
        {props.error.message}
      </p>
      {onRetry && (
        <Button className="jp-mod-styled" small onClick={() => onRetry()}>
          {trans.__('Try again')}
        </Button>
      )}
    </div>
  );
}
