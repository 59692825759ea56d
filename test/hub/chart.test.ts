import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkConfig } from '../../packages/companion/src/index.js';
import { CHART_SCHEMA, instancesSchema } from '../../scripts/chart-schema.js';
import { HUB_REQUIREMENTS, HUB_VENV } from '../support/hub.js';
import { ensureVenv, REPO, run } from '../support/processes.js';
import { decoded, find, type K8sObject } from '../support/z2jh.js';

/**
 * The Helm chart (helm/dlaas) without a cluster: `helm lint --strict` and `helm template` of each
 * example values file (z2jh 4.4.0's schema checks the `jupyterhub:` part, ours the `dlaas:` part),
 * every rendered object validated against Kubernetes' schemas (kubernetes-validate), what the
 * chart adds checked object by object, and its hub code under its pytest tests with the
 * OAuthenticator and KubeSpawner of z2jh 4.4.0.
 */
const CHART = join(REPO, 'helm', 'dlaas');
const EXAMPLES = ['devlake', 'escape'] as const;
/** The Kubernetes release the rendered objects are validated against. */
const KUBERNETES = '1.33.0';

let python: string;
let helm: string;
let work: string;
const rendered = new Map<string, K8sObject[]>();

async function template(
  values: string[],
  set: string[] = []
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(
    helm,
    [
      'template',
      'hub',
      CHART,
      '--namespace',
      'dlaas',
      ...values.flatMap(file => ['-f', file]),
      ...set.flatMap(s => ['--set', s])
    ],
    { allowFailure: true }
  );
}

beforeAll(async () => {
  python = await ensureVenv(HUB_VENV, HUB_REQUIREMENTS);
  helm = (await run('sh', ['scripts/ensure-helm.sh'])).stdout.trim();
  work = mkdtempSync(join(tmpdir(), 'dlaas-chart-'));
  for (const example of EXAMPLES) {
    const result = await template([join(CHART, 'examples', `${example}.yaml`)]);
    expect(result.code, result.stderr).toBe(0);
    writeFileSync(join(work, `${example}.yaml`), result.stdout);
    rendered.set(
      example,
      parseAllDocuments(result.stdout)
        .map(doc => doc.toJS() as K8sObject | null)
        .filter((o): o is K8sObject => o !== null)
    );
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the Helm chart', () => {
  it.each(EXAMPLES)(
    'when linted strictly with the %s example, then helm finds nothing',
    async example => {
      const result = await run(
        helm,
        ['lint', '--strict', CHART, '-f', join(CHART, 'examples', `${example}.yaml`)],
        {
          allowFailure: true
        }
      );
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    }
  );

  it.each(EXAMPLES)(
    'when the %s example is rendered, then every object is valid for Kubernetes',
    async example => {
      const result = await run(
        join(HUB_VENV, 'bin', 'kubernetes-validate'),
        ['--strict', '-k', KUBERNETES, join(work, `${example}.yaml`)],
        { allowFailure: true }
      );
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(rendered.get(example)?.length).toBeGreaterThan(10);
    }
  );

  it.each(EXAMPLES)(
    'when the %s example is rendered, then the companion configuration it mounts is one the companion accepts',
    example => {
      const objects = rendered.get(example) ?? [];
      const config = JSON.parse(
        find(objects, 'ConfigMap', 'dlaas-companion').data?.['companion.json'] ?? ''
      );
      expect(() => checkConfig(config, `the ${example} example's dlaas-companion`)).not.toThrow();
      expect(config.instances.length).toBeGreaterThan(0);
    }
  );

  it('when rendered, then the hub gets dlaas’s code, its settings, the client secret and the auth-state role', () => {
    const objects = rendered.get('escape') ?? [];
    const hubConfig = find(objects, 'ConfigMap', 'dlaas-hub').data ?? {};
    expect(hubConfig['dlaas_hub.py']?.trim()).toBe(
      readFileSync(join(CHART, 'files', 'dlaas_hub.py'), 'utf8').trim()
    );
    const settings = JSON.parse(hubConfig['dlaas.json'] ?? '');
    expect(settings.iam.issuer).toBe('https://iam-escape.cloud.cnaf.infn.it/');
    expect(settings.fuse.mode).toBe('devicePlugin');
    expect(settings.instances).toBeUndefined();

    const deployment = find(objects, 'Deployment', 'hub');
    const pod = (
      deployment.spec?.['template'] as {
        spec: {
          containers: {
            env: { name: string; valueFrom?: unknown }[];
            volumeMounts: { name: string; mountPath: string }[];
          }[];
          volumes: { name: string; configMap?: { name: string } }[];
        };
      }
    ).spec;
    const hub = pod.containers[0];
    expect(hub?.env.find(e => e.name === 'DLAAS_IAM_CLIENT_SECRET')?.valueFrom).toEqual({
      secretKeyRef: { name: 'dlaas-iam', key: 'client-secret', optional: true }
    });
    expect(pod.volumes.find(v => v.name === 'dlaas-hub')?.configMap?.name).toBe('dlaas-hub');
    expect(hub?.volumeMounts.find(m => m.name === 'dlaas-hub')?.mountPath).toBe(
      '/usr/local/etc/jupyterhub/dlaas'
    );

    // z2jh keeps its values for the hub (extraConfig, loadRoles) in the Secret `hub`.
    const values = decoded(find(objects, 'Secret', 'hub'), 'values.yaml');
    expect(values).toContain('dlaas_hub.configure(c, dlaas_hub.load_settings()');
    expect(values).toMatch(
      /server:\s+scopes:\s+- users:activity!user\s+- access:servers!server\s+- admin:auth_state!user/
    );
    expect(values).toMatch(/user:\s+scopes:\s+- self\s+- admin:auth_state!user/);

    const egress = find(objects, 'NetworkPolicy', 'dlaas-singleuser-egress');
    expect(egress.spec?.['podSelector']).toEqual({
      matchLabels: { component: 'singleuser-server', release: 'hub' }
    });
  });

  it.each([
    {
      when: 'the fuse mode is not one of the four',
      set: 'dlaas.fuse.mode=fast',
      says: ['/dlaas/fuse/mode', /privileged.*devicePlugin.*hostPath.*off/]
    },
    {
      when: 'the IAM secret named in dlaas differs from the one the hub reads',
      set: 'dlaas.iam.existingSecret=other',
      says: ['set both to the same Secret']
    },
    {
      when: 'an instance signs in with a method the companion does not know (its own schema)',
      set: 'dlaas.instances[0].auth.method=kerberos',
      says: ['/dlaas/instances/0/auth/method', "value must be 'jupyterhub'"]
    },
    {
      when: 'an instance’s path mode is misspelt',
      set: 'dlaas.instances[0].paths.mode=fused',
      says: ['/dlaas/instances/0/paths/mode', "value must be 'fuse'"]
    },
    {
      when: 'z2jh’s own values are wrong (its schema refuses them)',
      set: 'jupyterhub.singleuser.containerSecurityContext.privileged=true',
      says: [/containerSecurityContext/]
    }
  ])('when $when, then rendering fails and says so', async ({ set, says }) => {
    const result = await template([join(CHART, 'examples', 'devlake.yaml')], [set]);
    expect(result.code).not.toBe(0);
    for (const sentence of says) {
      if (typeof sentence === 'string') {
        expect(result.stderr).toContain(sentence);
      } else {
        expect(result.stderr).toMatch(sentence);
      }
    }
  });

  it('when values.schema.json is read, then its dlaas.instances is the companion’s own schema (npm run chart:schema)', () => {
    const committed = JSON.parse(readFileSync(CHART_SCHEMA, 'utf8')) as {
      properties: { dlaas: { properties: { instances: unknown } } };
    };
    expect(committed.properties.dlaas.properties.instances).toEqual(instancesSchema());
  });

  it('when helm checks Chart.lock against Chart.yaml, then they agree (only the offline repository stops a build)', async () => {
    const copy = join(work, 'lock-check');
    cpSync(CHART, copy, { recursive: true, filter: source => !source.includes('/charts') });
    const result = await run(helm, ['dependency', 'build', copy], { allowFailure: true });
    // Offline, the build stops at the repository; a lock out of sync stops it before that.
    expect(`${result.stdout}${result.stderr}`).not.toContain('out of sync');
    expect(`${result.stdout}${result.stderr}`).toMatch(/repository|Saving|Downloading/);
  });
});

describe('the chart’s hub configuration', () => {
  it('when its pytest tests run, then they all pass', async () => {
    const result = await run(
      python,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', join(CHART, 'tests')],
      { allowFailure: true }
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // Not an empty run: the tests were collected and passed.
    expect(result.stdout).toMatch(/\b(1[0-9]|[2-9][0-9]) passed\b/);
  });
});
