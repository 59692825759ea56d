import type { Instance } from '@dlaas/api';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import React from 'react';
import { useDataLake } from '../context';
import { failureOf, useAuthStatus } from '../hooks';
import { ErrorMessage, QueryFailure } from './ErrorMessage';

/** Props of {@link InstanceBar}. */
export interface IInstanceBarProps {
  instances: Instance[];
  instance: string;
  onInstance(name: string): void;
}

/** The instance picker and who the user is signed in as, with sign-in and sign-out. */
export function InstanceBar(props: IInstanceBarProps): JSX.Element {
  const { trans, client } = useDataLake();
  const queryClient = useQueryClient();
  const auth = useAuthStatus(props.instance);
  const status = auth.data;
  const refresh = (): Promise<void> =>
    queryClient.invalidateQueries({ queryKey: ['dlaas', props.instance] });
  const signIn = useMutation({
    mutationFn: () => client.startDeviceSignIn(props.instance),
    onSuccess: () => refresh()
  });
  const signOut = useMutation({
    mutationFn: () => client.signOut(props.instance),
    onSuccess: () => queryClient.resetQueries({ queryKey: ['dlaas', props.instance] })
  });
  const device = status?.deviceSignIn;
  return (
    <div className="jp-DataLake-instance">
      {props.instances.length > 1 && (
        <HTMLSelect
          aria-label={trans.__('Data lake')}
          value={props.instance}
          onChange={event => props.onInstance(event.target.value)}
          options={props.instances.map(i => ({ label: i.displayName, value: i.name }))}
        />
      )}
      {props.instances.length === 1 && (
        <span className="jp-DataLake-instanceName">{props.instances[0]?.displayName}</span>
      )}
      <QueryFailure failure={failureOf(auth)} onRetry={() => void auth.refetch()} />
      {status?.signedIn && (
        <div className="jp-DataLake-auth">
          <span>
            {trans.__('Signed in as %1', status.account ?? trans.__('(unknown account)'))}
          </span>
          {status.method === 'device' && (
            <Button minimal small onClick={() => signOut.mutate()}>
              {trans.__('Sign out')}
            </Button>
          )}
        </div>
      )}
      {status && !status.signedIn && (
        <div className="jp-DataLake-auth jp-mod-signedOut">
          {status.message && <p role="status">{status.message}</p>}
          {device && (
            <p className="jp-DataLake-device" role="status">
              {Private.withParts(
                trans.__(
                  'Enter the code %1 at %2. This panel updates once you have signed in.',
                  Private.PART_1,
                  Private.PART_2
                ),
                [
                  <strong key="code">{device.userCode}</strong>,
                  <a
                    key="link"
                    href={device.verificationUriComplete ?? device.verificationUri}
                    target="_blank"
                    rel="noreferrer"
                  >
                    {device.verificationUri}
                  </a>
                ]
              )}
            </p>
          )}
          {status.method === 'device' && !device && (
            <Button
              className="jp-mod-styled jp-mod-accept"
              disabled={signIn.isPending}
              onClick={() => signIn.mutate()}
            >
              {trans.__('Sign in')}
            </Button>
          )}
          {signIn.error && <ErrorMessage error={signIn.error} />}
        </div>
      )}
    </div>
  );
}

namespace Private {
  /** Stand-ins for elements in a translated sentence, put in place by {@link withParts}. */
  export const PART_1 = '\u0001';
  export const PART_2 = '\u0002';

  /** A translated sentence with its stand-ins replaced by `parts`, in order. */
  export function withParts(sentence: string, parts: React.ReactNode[]): React.ReactNode[] {
    return sentence
      .split(PART_1)
      .flatMap((before, i) => [
        ...(i > 0 ? [parts[0]] : []),
        ...before.split(PART_2).flatMap((text, j) => (j > 0 ? [parts[1], text] : [text]))
      ]);
  }
}
