/**
 * Galata UI tests: a real JupyterLab with the dlaas wheel, against devlake, in Debian's Chromium.
 * `npm run test:ui` runs them; `npm run test:ui:update` rewrites the screenshots (for humans: the
 * test command itself never does).
 */
import { defineConfig, type PlaywrightTestConfig } from '@playwright/test';
import { createRequire } from 'node:module';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../packages/lab/lib/browser.js';
import { LAB_TOKEN } from './tests/lab';

// Galata's base configuration is a CommonJS module without types.
const baseConfig = createRequire(import.meta.url)(
  '@jupyterlab/galata/lib/playwright-config'
) as PlaywrightTestConfig;

export default defineConfig({
  ...baseConfig,
  testDir: 'tests',
  outputDir: 'test-results',
  snapshotPathTemplate: '{testDir}/{testFileName}-snapshots/{arg}{ext}',
  globalSetup: './global-setup.ts',
  // One JupyterLab and one devlake on a 2-core machine: one test at a time.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env['CI'],
  updateSnapshots: 'none',
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  // A few anti-aliased pixels may differ; a changed word in a row is hundreds (a row's size text
  // was 435 pixels of 179,000, which the earlier 1 % ratio let pass unseen).
  expect: { toHaveScreenshot: { maxDiffPixels: 100 } },
  use: {
    ...baseConfig.use,
    // global-setup.ts starts JupyterLab on a free port and passes its address on to the workers,
    // which load this file after it.
    baseURL: process.env['DLAAS_UI_URL'],
    extraHTTPHeaders: { Authorization: `token ${LAB_TOKEN}` },
    // Video needs Playwright's own ffmpeg, which is not downloaded; traces need nothing.
    video: 'off',
    trace: 'retain-on-failure',
    launchOptions: { executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] }
  }
});
