import '@dlaas/jupyterlab/style/index.js';
