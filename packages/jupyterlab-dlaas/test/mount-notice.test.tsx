import type { Instance } from '@dlaas/api';
import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { screen, waitFor } from '@testing-library/react';
import React from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataLakeClient } from '../src/client';
import { DataLakeView } from '../src/components/DataLakeView';
import { AvailabilityEvents } from '../src/events';
import { DataLakeSidebar } from '../src/sidebar';
import { FakeStreams, stubTransport, testContext, type Routes } from './harness';

const PROBLEM =
  'The data lake folder /home/jovyan/datalake could not be mounted: /dev/fuse does not exist in this container. An admin can give user servers the FUSE device.';

function lake(name: string, paths: Instance['paths']): Instance {
  return {
    name,
    displayName: `The ${name} lake`,
    authMethod: 'userpass',
    scratchRse: 'SCRATCH',
    isDefault: name === 'a',
    paths
  };
}

/** The companion of a panel whose instances are `instances`, signed in to each. */
function companion(instances: Instance[]): Routes {
  const routes: Routes = { 'GET api/instances': { instances } };
  for (const { name } of instances) {
    routes[`GET api/instances/${name}/auth`] = {
      instance: name,
      method: 'userpass',
      signedIn: true,
      account: 'alice'
    };
    routes[`GET api/instances/${name}/scopes`] = { scopes: ['user.alice'] };
  }
  return routes;
}

/** The warnings JupyterLab has been asked to show, in alphabetical order. */
function warnings(): string[] {
  return Notification.manager.notifications
    .filter(n => n.type === 'warning')
    .map(n => n.message)
    .sort();
}

describe('the notice that a data lake folder could not be mounted', () => {
  beforeEach(() => Notification.manager.dismiss());
  afterEach(() => Notification.manager.dismiss());

  it('when the instance’s folder could not be mounted, then the sidebar shows the companion’s sentence once as a warning, also when the instances are read again and the panel is drawn again', async () => {
    const { transport, calls } = stubTransport(
      companion([
        lake('a', { mode: 'fuse', mountPoint: '/home/jovyan/datalake', problem: PROBLEM })
      ])
    );
    const trans = nullTranslator.load('dlaas');
    const client = new DataLakeClient(transport, trans);
    const sidebar = new DataLakeSidebar({
      client,
      events: new AvailabilityEvents(() => 'http://lab/dlaas/events', new FakeStreams().factory),
      trans,
      actions: { openInFileBrowser: async () => undefined, copyPath: () => undefined }
    });
    const instanceReads = (): number => calls.filter(c => c.path === 'api/instances').length;
    try {
      Widget.attach(sidebar, document.body);
      await waitFor(() => expect(warnings()).toEqual([PROBLEM]));

      sidebar.refresh();
      await waitFor(() => expect(instanceReads()).toBe(2));
      Widget.detach(sidebar);
      Widget.attach(sidebar, document.body);
      sidebar.refresh();
      await waitFor(() => expect(instanceReads()).toBe(3));
      await screen.findByRole('searchbox');
      expect(warnings()).toEqual([PROBLEM]);
    } finally {
      sidebar.dispose();
    }
  });

  it('when two of three instances cannot mount, then each of their sentences shows once, naming its instance, and the mounted one shows none', async () => {
    const instances = [
      lake('a', { mode: 'fuse', mountPoint: '/home/jovyan/datalake', problem: PROBLEM }),
      lake('b', { mode: 'fuse', mountPoint: '/home/jovyan/datalake-b' }),
      lake('c', { mode: 'fuse', mountPoint: '/home/jovyan/datalake-c', problem: 'No FUSE.' })
    ];
    const panel = testContext(companion(instances));
    const view = panel.render(<DataLakeView />);
    await waitFor(() =>
      expect(warnings()).toEqual([`The a lake: ${PROBLEM}`, 'The c lake: No FUSE.'])
    );
    // The same session's panel, drawn again (closed and opened): nothing new to say.
    view.unmount();
    await panel.queryClient.invalidateQueries();
    panel.render(<DataLakeView />);
    await waitFor(() =>
      expect(panel.calls.filter(c => c.path === 'api/instances').length).toBeGreaterThan(1)
    );
    await screen.findByRole('searchbox');
    expect(warnings()).toHaveLength(2);
  });

  it('when every instance’s folder is mounted or paths are mapped, then the panel shows no warning', async () => {
    const panel = testContext(
      companion([
        lake('a', { mode: 'fuse', mountPoint: '/home/jovyan/datalake' }),
        lake('b', { mode: 'prefix' })
      ])
    );
    panel.render(<DataLakeView />);
    await screen.findByRole('searchbox');
    await waitFor(() =>
      expect(panel.calls.some(c => c.path === 'api/instances/a/auth')).toBe(true)
    );
    expect(warnings()).toEqual([]);
  });
});
