import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration test files share one devlake (and start a second one), so they run one at a time.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/{api,companion,devlake,lab}/test/**/*.test.ts'],
          environment: 'node'
        }
      },
      {
        // The JupyterLab panel's views, hooks and notebook code, in a DOM.
        test: {
          name: 'unit-frontend',
          include: ['packages/jupyterlab-dlaas*/test/**/*.test.{ts,tsx}'],
          environment: 'jsdom',
          setupFiles: ['packages/jupyterlab-dlaas/test/setup.ts'],
          // These publish ES modules with extension-less imports, which only Vite's resolver takes.
          server: { deps: { inline: [/@jupyter\/web-components/, /@jupyter\/react-components/] } }
        }
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/load/**'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000
        }
      },
      {
        // The load test (12 minutes, mostly waiting; it counts only its own companion's Rucio
        // requests and memory) runs beside the integration tests: see scripts/test-integration.sh.
        test: {
          name: 'load',
          include: ['test/load/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 600_000
        }
      }
    ]
  }
});
