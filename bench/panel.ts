/**
 * Benchmark: the Data Lake panel in a real browser (Debian's Chromium) against a real JupyterLab
 * with the dlaas wheel, on a 100,000-file dataset. Every figure is printed next to a baseline
 * measured in the same run, and as their ratio:
 *
 * 1. Open → first rows: from the double-click on the dataset to its first file row drawn, against
 *    a plain `fetch` of the same first window from the same page.
 * 2. End → last row: from the End key in the file list to the last file's row drawn, against a
 *    plain `fetch` of the last window; then scrolling with the mouse wheel: frame times (against
 *    the same page's idle frames) and the `files` requests made against the windows passed.
 * 3. JupyterLab's load time (navigation to `app.restored`) with the extension, with it disabled
 *    (`disabledExtensions` in the lab's own `labconfig/page_config.json`) and with it absent (the
 *    lab's `labextensions_path` without it), interleaved, from a cold and a warm browser cache.
 * 4. The extension's JavaScript as the browser loads it at start, gzipped (level 9), against the
 *    250 KB target for the initial chunk; and all its static files.
 *
 * Each measure is repeated `--runs` times, A and B interleaved; medians with [min–max].
 *
 *   npm run devlake -- seed --files 100000      (once; the bench seeds it when it is missing)
 *   npm run build:python                        (the wheel whose extension is measured)
 *   npm run bench:panel -- [--runs 5] [--files 100000] [--wheel-steps 200] [--wheel-delta 1300]
 *                          [--wheel-interval 25]
 */
import { chromium, type Browser, type Page, type Request, type Response } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { RucioRest } from '../packages/devlake/src/rest.js';
import { root, runningLake } from './lake.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../packages/lab/src/browser.js';
import { builtWheel, LAB_VENV, startLab, type RunningLab } from '../packages/lab/src/index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    files: { type: 'string', default: '100000' },
    'wheel-steps': { type: 'string', default: '200' },
    'wheel-delta': { type: 'string', default: '1300' },
    'wheel-interval': { type: 'string', default: '25' }
  }
});
const runs = Number(values.runs);
const files = Number(values.files);
const wheelSteps = Number(values['wheel-steps']);
const wheelDelta = Number(values['wheel-delta']);
const wheelInterval = Number(values['wheel-interval']);
const started = performance.now();

const EXTENSION = '@dlaas/jupyterlab-extension';
const SIDEBAR_PLUGIN = `${EXTENSION}:sidebar`;
const STATIC_PATH = `/lab/extensions/${EXTENSION}/static/`;
const INITIAL_TARGET_KB = 250;
const WINDOW_SIZE = 200;
const dataset = `bench:files_${files}`;
const contentsList = `#dlaas-sidebar [role="listbox"][aria-label="Contents of ${dataset}"]`;

/** Progress goes to stderr; the results to stdout. */
function progress(line: string): void {
  process.stderr.write(`[bench:panel] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// In the page

/**
 * Helpers installed in every page before JupyterLab's own scripts, as `window.dlaasBench`. Plain
 * JavaScript, because this tsconfig has Node's types and not the DOM's; Node calls them through
 * {@link inPage}. All times are the page's `performance.now()` (ms since navigation started).
 */
const PAGE_HELPERS = String.raw`(() => {
  performance.setResourceTimingBufferSize(10000);
  const marks = {};
  const bench = { marks };
  window.dlaasBench = bench;

  // JupyterLab assigns the application to window.jupyterapp (expose_app_in_browser) as soon as
  // it exists: note when, and when its layout is restored.
  let app;
  Object.defineProperty(window, 'jupyterapp', {
    configurable: true,
    get: () => app,
    set: value => {
      app = value;
      marks.app = performance.now();
      value.restored.then(() => (marks.restored = performance.now()));
    }
  });
  const splash = new MutationObserver(() => {
    const shown = document.getElementById('jupyterlab-splash') !== null;
    if (shown && marks.splashShown === undefined) {
      marks.splashShown = performance.now();
    } else if (!shown && marks.splashShown !== undefined) {
      marks.splashGone = performance.now();
      splash.disconnect();
    }
  });
  splash.observe(document, { childList: true, subtree: true });

  bench.loadMarks = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      ...marks,
      domContentLoaded: nav ? nav.domContentLoadedEventEnd : undefined,
      load: nav ? nav.loadEventEnd : undefined
    };
  };

  bench.extensionState = plugin => ({
    registered: window.jupyterapp.hasPlugin(plugin),
    activated: window.jupyterapp.isPluginActivated(plugin),
    sidebar: document.getElementById('dlaas-sidebar') !== null,
    federated: JSON.parse(document.getElementById('jupyter-config-data').textContent)
      .federated_extensions.map(e => e.name)
  });

  // Resolves when an element matching the selector is in the page: when it got there, and when
  // the frame that draws it starts.
  const drawn = (selector, timeoutMs) =>
    new Promise((resolve, reject) => {
      const found = () => document.querySelector(selector) !== null;
      const done = () => {
        const inDom = performance.now();
        requestAnimationFrame(() => resolve({ inDom, frame: performance.now() }));
      };
      if (found()) {
        done();
        return;
      }
      const observer = new MutationObserver(() => {
        if (found()) {
          observer.disconnect();
          clearTimeout(timer);
          done();
        }
      });
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error('timed out waiting for ' + selector));
      }, timeoutMs);
      observer.observe(document.body, { childList: true, subtree: true, attributes: true });
    });

  // Times from the next event of a type (and key) to an element matching the selector drawn.
  bench.arm = (type, key, selector, timeoutMs) => {
    bench.armed = new Promise((resolve, reject) => {
      const onEvent = event => {
        if (key !== null && event.key !== key) {
          return;
        }
        document.removeEventListener(type, onEvent, true);
        const start = performance.now();
        drawn(selector, timeoutMs).then(times => resolve({ start, ...times }), reject);
      };
      document.addEventListener(type, onEvent, true);
    });
  };
  bench.armed = Promise.reject(new Error('not armed'));
  bench.armed.catch(() => undefined);
  bench.result = () => bench.armed;

  // Which happens first after a key press: the target drawn, or another row selected.
  bench.settled = (listSelector, target, previous, timeoutMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (document.querySelector(listSelector + ' ' + target)) {
          return 'target';
        }
        const selected = document.querySelector(listSelector + ' [aria-selected="true"]');
        const at = selected ? Number(selected.getAttribute('aria-posinset')) : null;
        return at !== null && at !== previous ? at : null;
      };
      const first = check();
      if (first !== null) {
        resolve(first);
        return;
      }
      const observer = new MutationObserver(() => {
        const now = check();
        if (now !== null) {
          observer.disconnect();
          clearTimeout(timer);
          resolve(now);
        }
      });
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error('nothing happened after the key press'));
      }, timeoutMs);
      observer.observe(document.body, { childList: true, subtree: true, attributes: true });
    });

  // A plain fetch of a URL from the page, read to the end and parsed, as the panel reads it.
  bench.fetchTime = async url => {
    const start = performance.now();
    const response = await fetch(url, { credentials: 'same-origin' });
    const body = await response.json();
    return {
      ms: performance.now() - start,
      status: response.status,
      items: Array.isArray(body.items) ? body.items.length : -1
    };
  };

  // The requests whose URL holds part, started at or after since: their timing.
  bench.requests = (part, since) =>
    performance
      .getEntriesByType('resource')
      .filter(e => e.name.includes(part) && e.startTime >= since)
      .map(e => ({
        url: e.name,
        start: e.startTime,
        responseStart: e.responseStart,
        end: e.responseEnd
      }));

  // Frame recorder: every animation frame's time, the highest row drawn in the list, and how many
  // frames show a "Loading…" row inside the list's viewport.
  bench.startFrames = listSelector => {
    const rec = { times: [], loadingInView: 0, maxPos: 0, scrollTop: 0, running: true };
    bench.recording = rec;
    const tick = time => {
      if (!rec.running) {
        return;
      }
      rec.times.push(time);
      const list = document.querySelector(listSelector);
      const spacer = list && list.firstElementChild;
      const last = spacer && spacer.lastElementChild;
      if (last) {
        rec.maxPos = Math.max(rec.maxPos, Number(last.getAttribute('aria-posinset')));
        rec.scrollTop = list.scrollTop;
        const box = list.getBoundingClientRect();
        for (const row of spacer.querySelectorAll('.jp-mod-loading')) {
          const r = row.getBoundingClientRect();
          if (r.bottom > box.top && r.top < box.bottom) {
            rec.loadingInView++;
            break;
          }
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  bench.stopFrames = () => {
    const rec = bench.recording;
    rec.running = false;
    return { times: rec.times, loadingInView: rec.loadingInView, maxPos: rec.maxPos, scrollTop: rec.scrollTop };
  };
})();`;

/** A row drawn after an event: page times of the event, the row in the DOM and its frame. */
interface Drawn {
  start: number;
  inDom: number;
  frame: number;
}

/** Page times of a JupyterLab load (ms since navigation started). */
interface LoadMarks {
  app?: number;
  restored?: number;
  splashShown?: number;
  splashGone?: number;
  domContentLoaded?: number;
  load?: number;
}

interface ExtensionState {
  registered: boolean;
  activated: boolean;
  sidebar: boolean;
  federated: string[];
}

interface Fetched {
  ms: number;
  status: number;
  items: number;
}

interface RequestTiming {
  url: string;
  start: number;
  responseStart: number;
  end: number;
}

interface Frames {
  times: number[];
  loadingInView: number;
  maxPos: number;
  scrollTop: number;
}

/** Calls `window.dlaasBench[method](...args)` in the page and returns what it resolves to. */
async function inPage<R>(page: Page, method: string, ...args: unknown[]): Promise<R> {
  return (await page.evaluate(
    ({ method, args }) =>
      (
        globalThis as unknown as {
          dlaasBench: Record<string, (...a: unknown[]) => unknown>;
        }
      ).dlaasBench[method]?.(...args),
    { method, args }
  )) as R;
}

// ---------------------------------------------------------------------------------------------
// Statistics

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
function median(xs: readonly number[]): number {
  const s = sorted(xs);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
function percentile(xs: readonly number[], p: number): number {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}
/** "123 [101–150]": median and range, `digits` decimals. */
function spread(xs: readonly number[], digits = 0): string {
  const s = sorted(xs);
  return `${median(s).toFixed(digits)} [${(s[0] as number).toFixed(digits)}–${(s[s.length - 1] as number).toFixed(digits)}]`;
}
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

// ---------------------------------------------------------------------------------------------
// devlake, the dataset and the labs

const { status, alice } = runningLake();

/** The dataset's file count in Rucio; seeds it (several minutes) when it is missing. */
async function ensureDataset(): Promise<number> {
  const rucio = new RucioRest(status.rucio.url, alice as NonNullable<typeof alice>);
  const [scope, name] = dataset.split(/:(.*)/s) as [string, string];
  const get = async (): Promise<globalThis.Response> =>
    fetch(`${status.rucio.url}/dids/${scope}/${encodeURIComponent(name)}`, {
      headers: { 'X-Rucio-Auth-Token': await rucio.authToken() }
    });
  let answer = await get();
  if (answer.status === 404) {
    progress(
      `${dataset} is missing: seeding it with "devlake seed --files ${files}" (minutes) ...`
    );
    const seeded = spawnSync(
      process.execPath,
      [join(root, 'packages/devlake/lib/cli.js'), 'seed', '--files', String(files)],
      { stdio: ['ignore', 'inherit', 'inherit'] }
    );
    if (seeded.status !== 0) {
      throw new Error(`devlake seed --files ${files} failed`);
    }
    answer = await get();
  }
  if (!answer.ok) {
    throw new Error(`Rucio answered ${answer.status} for ${dataset}: ${await answer.text()}`);
  }
  const did = (await answer.json()) as { length: number | null };
  return did.length ?? files;
}

/** How a lab's JupyterLab sees the extension. */
type Variant = 'with' | 'disabled' | 'absent';
const VARIANTS: readonly Variant[] = ['with', 'disabled', 'absent'];
const LAB_NAMES: Record<Variant, string> = {
  with: 'bench',
  disabled: 'bench-disabled',
  absent: 'bench-absent'
};

/**
 * Writes a lab's own Jupyter configuration (in its own JUPYTER_CONFIG_DIR, which no one else
 * uses): the application exposed to the page, no saved layout, and the extension disabled or left
 * out of the extension path as the variant says.
 */
function configureLab(variant: Variant): void {
  const jupyterDir = join(status.stateDir, `jupyter-${LAB_NAMES[variant]}`);
  const config = join(jupyterDir, 'config');
  rmSync(join(config, 'lab', 'workspaces'), { recursive: true, force: true });
  rmSync(join(config, 'labconfig'), { recursive: true, force: true });
  mkdirSync(config, { recursive: true });
  const labApp: Record<string, unknown> = { expose_app_in_browser: true };
  if (variant === 'disabled') {
    mkdirSync(join(config, 'labconfig'));
    writeFileSync(
      join(config, 'labconfig', 'page_config.json'),
      JSON.stringify({ disabledExtensions: { [EXTENSION]: true } }, null, 2) + '\n'
    );
  }
  if (variant === 'absent') {
    // Every prebuilt extension of the venv but ours, linked into a directory of their own.
    const own = join(jupyterDir, 'labextensions');
    const venvExtensions = join(LAB_VENV, 'share', 'jupyter', 'labextensions');
    rmSync(own, { recursive: true, force: true });
    mkdirSync(own, { recursive: true });
    const scope = EXTENSION.split('/')[0] as string;
    for (const entry of readdirSync(venvExtensions)) {
      if (entry !== scope) {
        symlinkSync(join(venvExtensions, entry), join(own, entry));
      }
    }
    labApp['labextensions_path'] = [own];
  }
  writeFileSync(
    join(config, 'jupyter_lab_config.json'),
    JSON.stringify({ LabApp: labApp }, null, 2) + '\n'
  );
}

const labs = new Map<Variant, RunningLab>();
let browser: Browser | undefined;
async function cleanUp(): Promise<void> {
  await browser?.close().catch(() => undefined);
  await Promise.all([...labs.values()].map(lab => lab.stop()));
}
process.once('SIGINT', () => {
  void cleanUp().finally(() => process.exit(130));
});

// ---------------------------------------------------------------------------------------------
// 3 and 4: JupyterLab's load, and the extension's JavaScript

interface Load {
  variant: Variant;
  cache: 'cold' | 'warm';
  restored: number;
  splashGone: number;
  domContentLoaded: number;
  extensionRequests: number;
}

interface StaticFile {
  file: string;
  bytes: number;
  gzip9: number;
  served: number;
  encoding: string;
}

/** Waits for `app.restored` (and the splash gone), then returns the load's page times. */
async function loadMarks(page: Page): Promise<LoadMarks> {
  await page.waitForFunction(
    () =>
      (globalThis as unknown as { dlaasBench: { marks: LoadMarks } }).dlaasBench.marks.restored !==
      undefined,
    null,
    { polling: 100, timeout: 120_000 }
  );
  await page
    .waitForFunction(
      () =>
        (globalThis as unknown as { dlaasBench: { marks: LoadMarks } }).dlaasBench.marks
          .splashGone !== undefined,
      null,
      { polling: 100, timeout: 10_000 }
    )
    .catch(() => undefined);
  return inPage<LoadMarks>(page, 'loadMarks');
}

/** Loads JupyterLab in a fresh browser context (cold cache), then reloads it (warm cache). */
async function measureLoad(
  variant: Variant,
  capture: StaticFile[] | null
): Promise<{ loads: Load[]; state: ExtensionState }> {
  const lab = labs.get(variant) as RunningLab;
  const context = await (browser as Browser).newContext();
  await context.addInitScript({ content: PAGE_HELPERS });
  const page = await context.newPage();
  let extensionRequests = 0;
  const captured: Promise<void>[] = [];
  page.on('request', (request: Request) => {
    if (request.url().includes(STATIC_PATH)) {
      extensionRequests++;
    }
  });
  if (capture) {
    page.on('response', (response: Response) => {
      const url = response.url();
      if (url.includes(STATIC_PATH)) {
        captured.push(
          (async () => {
            const body = await response.body();
            const sizes = await response.request().sizes();
            const file =
              url.slice(url.indexOf(STATIC_PATH) + STATIC_PATH.length).split('?')[0] ?? url;
            // A page loads the lab twice (cold, then warm): each file counts once.
            if (capture.some(f => f.file === file)) {
              return;
            }
            capture.push({
              file,
              bytes: body.length,
              gzip9: gzipSync(body, { level: 9 }).length,
              served: sizes.responseBodySize,
              encoding: response.headers()['content-encoding'] ?? 'identity'
            });
          })()
        );
      }
    });
  }
  const loads: Load[] = [];
  for (const cache of ['cold', 'warm'] as const) {
    extensionRequests = 0;
    if (cache === 'cold') {
      await page.goto(lab.labUrl);
    } else {
      await page.reload();
    }
    const marks = await loadMarks(page);
    loads.push({
      variant,
      cache,
      restored: marks.restored as number,
      splashGone: marks.splashGone ?? Number.NaN,
      domContentLoaded: marks.domContentLoaded ?? Number.NaN,
      extensionRequests
    });
  }
  const state = await inPage<ExtensionState>(page, 'extensionState', SIDEBAR_PLUGIN);
  await Promise.all(captured);
  await context.close();
  return { loads, state };
}

/** Every file of the extension's `static/` in the venv: bytes and gzipped bytes. */
function staticFilesOnDisk(): { file: string; bytes: number; gzip9: number }[] {
  const dir = join(LAB_VENV, 'share', 'jupyter', 'labextensions', EXTENSION, 'static');
  return readdirSync(dir).map(file => {
    const body = readFileSync(join(dir, file));
    return { file, bytes: body.length, gzip9: gzipSync(body, { level: 9 }).length };
  });
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: the panel

/** Counts the companion's API requests a page makes, and those in flight. */
class CompanionRequests {
  private inFlight = new Set<Request>();
  readonly made: string[] = [];

  constructor(page: Page) {
    const api = (request: Request): boolean =>
      request.url().includes('/dlaas/api/') && !request.url().includes('/events?');
    page.on('request', request => {
      if (api(request)) {
        this.made.push(request.url());
        this.inFlight.add(request);
      }
    });
    const done = (request: Request): void => {
      this.inFlight.delete(request);
    };
    page.on('requestfinished', done);
    page.on('requestfailed', done);
  }

  /** The requests for windows of the file list made from the `since`-th request on. */
  fileWindows(since: number): string[] {
    return this.made.slice(since).filter(url => url.includes('/files?'));
  }

  /** Resolves once no companion request has been in flight for `quietMs`. */
  async quiet(quietMs = 300, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      if (this.inFlight.size > 0) {
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= quietMs) {
        return;
      }
      await sleep(25);
    }
    throw new Error(`companion requests still in flight: ${[...this.inFlight].map(r => r.url())}`);
  }
}

/** A page of the "with" lab, signed in, with the panel open and the dataset found by search. */
async function panelPage(
  lab: RunningLab,
  context: Awaited<ReturnType<Browser['newContext']>>
): Promise<{ page: Page; requests: CompanionRequests }> {
  const page = await context.newPage();
  const requests = new CompanionRequests(page);
  await page.goto(lab.labUrl);
  await loadMarks(page);
  await page.evaluate(() =>
    (
      globalThis as unknown as {
        jupyterapp: { commands: { execute(id: string): Promise<unknown> } };
      }
    ).jupyterapp.commands.execute('dlaas:open')
  );
  const panel = page.locator('#dlaas-sidebar');
  const search = panel.getByRole('searchbox', { name: 'Search the data lake' });
  await search.fill(dataset, { timeout: 60_000 });
  await panel
    .getByRole('listbox', { name: 'Search results' })
    .locator(`[role="option"][title="${dataset}"]`)
    .waitFor({ timeout: 60_000 });
  await requests.quiet();
  return { page, requests };
}

const datasetRow = (page: Page) =>
  page.locator(`#dlaas-sidebar [role="listbox"][aria-label="Search results"] [title="${dataset}"]`);
const firstFileRow = `${contentsList} [role="option"][title]:not([title="${dataset}"])`;
const filesUrl = (lab: RunningLab, offset: number): string =>
  `${lab.url}dlaas/api/instances/devlake/files?did=${encodeURIComponent(dataset)}&offset=${offset}&limit=${WINDOW_SIZE}`;

interface OpenResult {
  /** dblclick → first file row drawn (its frame). */
  ms: number;
  /** Parts: dblclick → the window's request sent, the request, response → rows in the DOM, → frame. */
  toRequest: number;
  request: number;
  toDom: number;
  toFrame: number;
  otherRequests: string[];
}

/** Double-clicks the dataset and times its first file row drawn. */
async function openDataset(page: Page, requests: CompanionRequests): Promise<OpenResult> {
  const before = requests.made.length;
  await inPage(page, 'arm', 'dblclick', null, firstFileRow, 60_000);
  await datasetRow(page).dblclick();
  const drawn = await inPage<Drawn>(page, 'result');
  // The panel's own request: the baseline's fetch of the same window may have come just before.
  const windows = await inPage<RequestTiming[]>(page, 'requests', '/files?', drawn.start);
  const first = windows.find(w => w.url.includes('offset=0&'));
  if (!first) {
    throw new Error('the panel drew rows without requesting the first window');
  }
  await requests.quiet();
  return {
    ms: drawn.frame - drawn.start,
    toRequest: first.start - drawn.start,
    request: first.end - first.start,
    toDom: drawn.inDom - first.end,
    toFrame: drawn.frame - drawn.inDom,
    otherRequests: requests.made
      .slice(before)
      .filter(url => !url.includes('/files?'))
      .map(url => new URL(url).pathname.split('/').pop() as string)
  };
}

interface EndResult {
  ms: number;
  presses: number;
  /** Where the first press landed (aria-posinset), when it was not the last row. */
  firstLanding: number | null;
  fileRequests: number;
  otherRequests: number;
  lastTitle: string;
}

/** Focuses the file list, presses End (again, while it lands short) and times the last row. */
async function pressEnd(
  page: Page,
  requests: CompanionRequests,
  total: number
): Promise<EndResult> {
  const lastRow = `[role="option"][aria-posinset="${total}"][title]`;
  const before = requests.made.length;
  await page.locator(contentsList).focus();
  await inPage(page, 'arm', 'keydown', 'End', `${contentsList} ${lastRow}`, 60_000);
  let presses = 0;
  let previous: number | null = null;
  let firstLanding: number | null = null;
  for (;;) {
    await page.keyboard.press('End');
    presses++;
    const landed: 'target' | number = await inPage<'target' | number>(
      page,
      'settled',
      contentsList,
      lastRow,
      previous,
      60_000
    );
    if (landed === 'target') {
      break;
    }
    firstLanding ??= landed;
    previous = landed;
    // Landed short because the length was not known yet: the panel goes on by itself once it is.
    const later = await inPage<'target' | number>(
      page,
      'settled',
      contentsList,
      lastRow,
      previous,
      5_000
    ).catch(() => null);
    if (later === 'target') {
      break;
    }
    if (presses >= 5) {
      throw new Error(`End did not reach row ${total} in 5 presses (at row ${landed})`);
    }
  }
  const drawn = await inPage<Drawn>(page, 'result');
  await requests.quiet();
  const made = requests.made.slice(before);
  return {
    ms: drawn.frame - drawn.start,
    presses,
    firstLanding,
    fileRequests: made.filter(url => url.includes('/files?')).length,
    otherRequests: made.filter(url => !url.includes('/files?')).length,
    lastTitle: (await page.locator(`${contentsList} ${lastRow}`).getAttribute('title')) ?? ''
  };
}

interface WheelResult {
  idle: number[];
  frames: number[];
  loadingShare: number;
  fileRequests: number;
  windowsPassed: number;
  rowsPassed: number;
}

/** Scrolls the open file list with the mouse wheel, recording frame times and requests. */
async function wheelThrough(page: Page, requests: CompanionRequests): Promise<WheelResult> {
  const list = page.locator(contentsList);
  const box = await list.boundingBox();
  if (!box) {
    throw new Error('the file list has no box');
  }
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await inPage(page, 'startFrames', contentsList);
  await sleep(1000);
  const idle = await inPage<Frames>(page, 'stopFrames');
  const before = requests.made.length;
  await inPage(page, 'startFrames', contentsList);
  for (let step = 0; step < wheelSteps; step++) {
    await page.mouse.wheel(0, wheelDelta);
    await sleep(wheelInterval);
  }
  await requests.quiet();
  await sleep(300);
  const moving = await inPage<Frames>(page, 'stopFrames');
  const deltas = (times: number[]): number[] =>
    times.slice(1).map((t, i) => t - (times[i] as number));
  return {
    idle: deltas(idle.times),
    frames: deltas(moving.times),
    loadingShare: moving.loadingInView / Math.max(1, moving.times.length),
    fileRequests: requests.fileWindows(before).length,
    // Windows below the highest row drawn, less the first one, which came with the opening.
    windowsPassed: Math.ceil(moving.maxPos / WINDOW_SIZE) - 1,
    rowsPassed: moving.maxPos
  };
}

// ---------------------------------------------------------------------------------------------
// The run

try {
  const total = await ensureDataset();
  const wheel = builtWheel();
  progress(`${dataset}: ${total} files; wheel ${wheel} (${statSync(wheel).mtime.toISOString()})`);

  for (const variant of VARIANTS) {
    configureLab(variant);
    const lab = await startLab({ name: LAB_NAMES[variant], port: 0, log: progress });
    labs.set(variant, lab);
    progress(`JupyterLab ${variant} the extension: ${lab.url}`);
  }
  if (!(labs.get('with') as RunningLab).hasLabextension) {
    throw new Error(`the wheel ${wheel} has no JupyterLab extension: run "npm run build:python".`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });

  // 3 and 4: loads, variants interleaved (rotated each run), the first "with" load captured.
  const loads: Load[] = [];
  const states = new Map<Variant, ExtensionState>();
  const initialFiles: StaticFile[] = [];
  // A fresh Jupyter server answers its first page slower (templates, settings, translations).
  for (const variant of VARIANTS) {
    await measureLoad(variant, null);
  }
  for (let run = 0; run < runs; run++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const variant = VARIANTS[(run + i) % VARIANTS.length] as Variant;
      const capture = variant === 'with' && !states.has('with') ? initialFiles : null;
      const measured = await measureLoad(variant, capture);
      loads.push(...measured.loads);
      states.set(variant, measured.state);
    }
    progress(`load run ${run + 1}/${runs} done`);
  }
  const checks: [Variant, boolean, string][] = [
    ['with', (states.get('with') as ExtensionState).activated, 'its sidebar plugin is active'],
    [
      'disabled',
      !(states.get('disabled') as ExtensionState).registered &&
        (states.get('disabled') as ExtensionState).federated.includes(EXTENSION),
      'it is listed but its plugins are not registered'
    ],
    [
      'absent',
      !(states.get('absent') as ExtensionState).federated.includes(EXTENSION) &&
        loads.every(l => l.variant !== 'absent' || l.extensionRequests === 0),
      'it is not listed and none of its files is requested'
    ]
  ];
  for (const [variant, ok, what] of checks) {
    if (!ok) {
      throw new Error(`JupyterLab "${variant}" the extension is not what it should be: ${what}.`);
    }
  }

  // 1 and 2: the panel in the "with" lab, one browser context (the lab's files cached).
  const lab = labs.get('with') as RunningLab;
  const context = await browser.newContext();
  await context.addInitScript({ content: PAGE_HELPERS });
  const lazyFiles = new Set<string>();
  context.on('request', request => {
    const url = request.url();
    const file = url.slice(url.indexOf(STATIC_PATH) + STATIC_PATH.length).split('?')[0] ?? url;
    if (url.includes(STATIC_PATH) && !initialFiles.some(f => f.file === file)) {
      lazyFiles.add(file);
    }
  });
  // Warm-up, and the first opening as a user meets it: this lab's companion has not read the
  // dataset yet (it keeps a list it read five minutes, and its file count as long as it runs).
  // Timed once, printed apart; the runs after it meet panel and baseline with a warm companion.
  const warm = await panelPage(lab, context);
  const coldOpen = await openDataset(warm.page, warm.requests);
  const coldEnd = await pressEnd(warm.page, warm.requests, total);
  const lastOffset = Math.floor((total - 1) / WINDOW_SIZE) * WINDOW_SIZE;
  const checked = await inPage<Fetched>(warm.page, 'fetchTime', filesUrl(lab, lastOffset));
  if (checked.status !== 200 || checked.items !== total - lastOffset) {
    throw new Error(
      `the companion answered ${checked.status} with ${checked.items} items for the last window`
    );
  }
  await warm.page.close();

  const opens: OpenResult[] = [];
  const firstFetches: number[] = [];
  const ends: EndResult[] = [];
  const lastFetches: number[] = [];
  const wheels: WheelResult[] = [];
  for (let run = 0; run < runs; run++) {
    const panelFirst = run % 2 === 0;
    const { page, requests } = await panelPage(lab, context);
    const fetchFirst = async (): Promise<void> => {
      firstFetches.push((await inPage<Fetched>(page, 'fetchTime', filesUrl(lab, 0))).ms);
    };
    const fetchLast = async (): Promise<void> => {
      lastFetches.push((await inPage<Fetched>(page, 'fetchTime', filesUrl(lab, lastOffset))).ms);
    };
    if (!panelFirst) {
      await fetchFirst();
    }
    opens.push(await openDataset(page, requests));
    if (panelFirst) {
      await fetchFirst();
    }
    if (!panelFirst) {
      await fetchLast();
    }
    ends.push(await pressEnd(page, requests, total));
    if (panelFirst) {
      await fetchLast();
    }
    await page.close();

    const scrolling = await panelPage(lab, context);
    await openDatasetQuietly(scrolling.page, scrolling.requests);
    wheels.push(await wheelThrough(scrolling.page, scrolling.requests));
    await scrolling.page.close();
    progress(`panel run ${run + 1}/${runs} done`);
  }
  await context.close();

  report({
    total,
    loads,
    initialFiles,
    lazyFiles: [...lazyFiles],
    coldOpen,
    coldEnd,
    opens,
    firstFetches,
    ends,
    lastFetches,
    wheels
  });
} finally {
  await cleanUp();
}

/** Opens the dataset without timing it, and waits for its first rows and the network to settle. */
async function openDatasetQuietly(page: Page, requests: CompanionRequests): Promise<void> {
  await datasetRow(page).dblclick();
  await page.locator(firstFileRow).first().waitFor({ timeout: 60_000 });
  await requests.quiet();
}

// ---------------------------------------------------------------------------------------------
// The report

interface Results {
  total: number;
  loads: Load[];
  initialFiles: StaticFile[];
  lazyFiles: string[];
  coldOpen: OpenResult;
  coldEnd: EndResult;
  opens: OpenResult[];
  firstFetches: number[];
  ends: EndResult[];
  lastFetches: number[];
  wheels: WheelResult[];
}

function report(r: Results): void {
  const rows: [string, string, string, string][] = [];
  const add = (what: string, measured: string, baseline: string, ratioText: string): void => {
    rows.push([what, measured, baseline, ratioText]);
  };

  // 1
  const openMs = r.opens.map(o => o.ms);
  const firstFetch = median(r.firstFetches);
  add(
    'open dataset → first rows drawn (ms)',
    spread(openMs),
    `fetch 1st window ${spread(r.firstFetches)}`,
    ratio(median(openMs), firstFetch)
  );
  add('  dblclick → window requested (ms)', spread(r.opens.map(o => o.toRequest)), '', '');
  add('  window request in the panel (ms)', spread(r.opens.map(o => o.request)), '', '');
  add('  response → rows in the DOM (ms)', spread(r.opens.map(o => o.toDom)), '', '');
  add('  rows in the DOM → frame (ms)', spread(r.opens.map(o => o.toFrame)), '', '');

  // 2
  const endMs = r.ends.map(e => e.ms);
  add(
    'End → last row drawn (ms)',
    spread(endMs),
    `fetch last window ${spread(r.lastFetches)}`,
    ratio(median(endMs), median(r.lastFetches))
  );
  add('  End presses needed', spread(r.ends.map(e => e.presses)), '1', '');
  add(
    '  requests: file windows / others',
    `${spread(r.ends.map(e => e.fileRequests))} / ${spread(r.ends.map(e => e.otherRequests))}`,
    '',
    ''
  );
  const frames = r.wheels.flatMap(w => w.frames);
  const idle = r.wheels.flatMap(w => w.idle);
  const idleP50 = median(idle);
  const p50s = r.wheels.map(w => median(w.frames));
  const p95s = r.wheels.map(w => percentile(w.frames, 95));
  add(
    `wheel ${wheelSteps}×${wheelDelta}px: frame p50 (ms)`,
    spread(p50s, 1),
    `idle frame p50 ${idleP50.toFixed(1)}`,
    ratio(median(p50s), idleP50)
  );
  add('  frame p95 (ms)', spread(p95s, 1), '', ratio(median(p95s), idleP50));
  add(
    '  frames over 50 ms (%)',
    spread(
      r.wheels.map(w => (100 * w.frames.filter(f => f > 50).length) / Math.max(1, w.frames.length)),
      1
    ),
    '',
    ''
  );
  add(
    '  frames with "Loading…" in view (%)',
    spread(
      r.wheels.map(w => 100 * w.loadingShare),
      1
    ),
    '',
    ''
  );
  add(
    '  file window requests / windows passed',
    spread(r.wheels.map(w => w.fileRequests)),
    `${spread(r.wheels.map(w => w.windowsPassed))} (of ${Math.ceil(r.total / WINDOW_SIZE)})`,
    ratio(median(r.wheels.map(w => w.fileRequests)), median(r.wheels.map(w => w.windowsPassed)))
  );

  // 3
  for (const cache of ['cold', 'warm'] as const) {
    const of = (variant: Variant, field: 'restored' | 'splashGone'): number[] =>
      r.loads.filter(l => l.variant === variant && l.cache === cache).map(l => l[field]);
    const absent = median(of('absent', 'restored'));
    add(
      `JupyterLab load → restored, ${cache} (ms)`,
      `with ${spread(of('with', 'restored'))}`,
      `absent ${spread(of('absent', 'restored'))}`,
      ratio(median(of('with', 'restored')), absent)
    );
    add(
      `  extension disabled, ${cache} (ms)`,
      `disabled ${spread(of('disabled', 'restored'))}`,
      'absent',
      ratio(median(of('disabled', 'restored')), absent)
    );
    add(
      `  → splash gone, ${cache} (ms)`,
      `with ${spread(of('with', 'splashGone'))}`,
      `absent ${spread(of('absent', 'splashGone'))}`,
      ratio(median(of('with', 'splashGone')), median(of('absent', 'splashGone')))
    );
  }
  const requestsOf = (variant: Variant): number =>
    median(
      r.loads.filter(l => l.variant === variant && l.cache === 'cold').map(l => l.extensionRequests)
    );
  add(
    '  extension files requested (cold load)',
    `with ${requestsOf('with')}, disabled ${requestsOf('disabled')}`,
    `absent ${requestsOf('absent')}`,
    ''
  );

  // 4
  const sum = (
    xs: StaticFile[] | { gzip9: number; bytes: number }[],
    f: 'gzip9' | 'bytes'
  ): number => xs.reduce((s, x) => s + x[f], 0);
  const initialJs = r.initialFiles.filter(f => f.file.endsWith('.js'));
  add(
    'initial chunk, gzip -9 (all JS at start)',
    kb(sum(initialJs, 'gzip9')),
    `target ${INITIAL_TARGET_KB} KB`,
    ratio(sum(initialJs, 'gzip9'), INITIAL_TARGET_KB * 1024)
  );
  add(
    '  the same, raw / as served',
    `${kb(sum(initialJs, 'bytes'))} / ${kb(initialJs.reduce((s, f) => s + f.served, 0))} (${[...new Set(initialJs.map(f => f.encoding))].join(', ')})`,
    '',
    ''
  );
  add(
    '  loaded later (after the panel opened)',
    r.lazyFiles.length ? r.lazyFiles.join(', ') : 'none',
    '',
    ''
  );
  const onDisk = staticFilesOnDisk();
  add(
    'all static files, raw / gzip -9',
    `${kb(sum(onDisk, 'bytes'))} / ${kb(sum(onDisk, 'gzip9'))}`,
    `${onDisk.length} files`,
    ''
  );

  const widths = [0, 1, 2, 3].map(i => Math.max(...rows.map(row => (row[i] as string).length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ');
  console.log('');
  console.log(
    `Data Lake panel, ${dataset} (${r.total} files), ${runs} runs: median [min–max]; ratio = median / baseline median`
  );
  console.log(line(['measure', 'measured', 'baseline (same run)', 'ratio']));
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'));
  for (const row of rows) {
    console.log(line(row));
  }
  console.log('');
  const { coldOpen, coldEnd } = r;
  console.log(
    `first opening, cold companion (one sample): first rows drawn ${coldOpen.ms.toFixed(0)} ms ` +
      `(window request ${coldOpen.request.toFixed(0)} ms); End → last row ${coldEnd.ms.toFixed(0)} ms ` +
      `in ${coldEnd.presses} press(es), ${coldEnd.fileRequests} file window requests` +
      (coldEnd.firstLanding === null
        ? ''
        : `; the first End landed on row ${coldEnd.firstLanding} (the first window did not carry the list's length yet)` +
          (coldEnd.presses === 1 ? ' and went on to the last row by itself' : ''))
  );
  const landings = r.ends.map(e => e.firstLanding).filter(l => l !== null);
  if (landings.length > 0) {
    console.log(
      `End landed short on its first press in ${landings.length}/${r.ends.length} warm runs (at row ${[...new Set(landings)].join(', ')}).`
    );
  }
  console.log(
    `other requests on opening: ${[...new Set(r.opens.flatMap(o => o.otherRequests))].join(', ') || 'none'}; last row: ${r.ends[0]?.lastTitle}`
  );
  console.log(
    'initial files: ' +
      r.initialFiles.map(f => `${f.file} ${kb(f.bytes)} → ${kb(f.gzip9)} gz`).join('; ')
  );
  console.log(
    `frames recorded while scrolling: ${frames.length}; wall time ${((performance.now() - started) / 1000).toFixed(0)} s`
  );
}
