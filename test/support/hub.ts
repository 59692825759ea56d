import { join } from 'node:path';
import { REPO } from './processes.js';

/**
 * The Python environment of the hub tests: JupyterHub, OAuthenticator and KubeSpawner at the
 * versions z2jh 4.4.0's hub image pins (the chart's dependency), so that what is tested is what
 * the chart deploys; pytest for the chart's own hub code.
 */
export const HUB_VENV = join(REPO, '.venv-hub');
export const HUB_REQUIREMENTS = [
  'jupyterhub==5.5.0',
  'oauthenticator==17.4.0',
  'jupyterhub-kubespawner==7.0.0',
  // z2jh's configuration makes tornado use curl, and starts the idle culler as a hub service.
  'pycurl==7.49.0',
  'jupyterhub-idle-culler==1.4.0',
  'pytest>=9,<10',
  'kubernetes-validate==1.37.0'
];
