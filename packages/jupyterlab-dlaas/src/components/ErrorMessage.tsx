import React from 'react';
import type { DataLakeError } from '../client';

/** A failure's sentence, announced to screen readers. */
export function ErrorMessage(props: { error: DataLakeError | Error }): JSX.Element {
  return (
    <p className="jp-DataLake-error" role="alert">
      {props.error.message}
    </p>
  );
}
