/**
 * Benchmark: sorting a list of 500,000 rows (the most the companion sorts) the way the companion
 * did before (a comparison that builds both names and asks the collator, on the event loop in one
 * go) and the way it does now (a key per row, compared by code unit, in pieces between turns of
 * the event loop), in the same run. Prints the time of each, their ratio, and the longest the
 * event loop waited meanwhile.
 *
 *   npx tsx bench/sort.ts [--rows 500000] [--runs 3]
 */
import { parseArgs } from 'node:util';
import {
  compareNatural,
  listSort,
  type SortableRow
} from '../packages/companion/src/domain/orders.js';
import { sortRows } from '../packages/companion/src/domain/windows.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' }
  }
});
const count = Number(values.rows);
const runs = Number(values.runs);

/** Names as Rucio lists them: numbered runs, parts and files, in no particular order. */
function rows(): SortableRow[] {
  // mulberry32: the same rows on every run.
  let seed = 11;
  const random = (below: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
  const scopes = ['data18_13TeV', 'mc20_13TeV', 'user.ann', 'lofar'];
  return Array.from({ length: count }, () => {
    const run = String(300000 + random(60000)).padStart(8, '0');
    const part = String(random(100000)).padStart(6, '0');
    const name =
      random(2) === 0
        ? `DAOD_PHYS.${run}.r13286_p${4900 + random(100)}._${part}.pool.root.${1 + random(3)}`
        : `L${random(900000)}_SAP00${random(3)}_SB${random(244)}_uv.MS`;
    return { scope: scopes[random(scopes.length)] as string, name, bytes: random(1_000_000_000) };
  });
}

/** The companion's orders before: a comparison of rows that builds each name it compares. */
const before: Record<'name' | 'size', (a: SortableRow, b: SortableRow) => number> = {
  name: (a, b) => compareNatural(`${a.scope}:${a.name}`, `${b.scope}:${b.name}`),
  size: (a, b) => (b.bytes ?? -1) - (a.bytes ?? -1) || compareNatural(a.name, b.name)
};

/** Runs `sort` and returns its time and the longest the event loop waited meanwhile, in ms. */
async function measure(sort: () => Promise<unknown>): Promise<{ ms: number; stallMs: number }> {
  let stallMs = 0;
  let last = performance.now();
  let sorting = true;
  const turn = (): void => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
    if (sorting) {
      setImmediate(turn);
    }
  };
  setImmediate(turn);
  const started = performance.now();
  await sort();
  const ms = performance.now() - started;
  // The turn after the sort sees the wait of a sort that never let the event loop in.
  await new Promise(resolvePromise => setImmediate(resolvePromise));
  sorting = false;
  return { ms, stallMs };
}

const list = rows();
for (const order of ['name', 'size'] as const) {
  const old = { ms: Infinity, stallMs: Infinity };
  const now = { ms: Infinity, stallMs: Infinity };
  let same = true;
  for (let run = 0; run < runs; run++) {
    let oldSorted: SortableRow[] = [];
    let newSorted: SortableRow[] = [];
    const a = await measure(async () => (oldSorted = [...list].sort(before[order])));
    const b = await measure(async () => (newSorted = await sortRows(list, listSort(order))));
    same &&= oldSorted.every((row, i) => row === newSorted[i]);
    old.ms = Math.min(old.ms, a.ms);
    old.stallMs = Math.min(old.stallMs, a.stallMs);
    now.ms = Math.min(now.ms, b.ms);
    now.stallMs = Math.min(now.stallMs, b.stallMs);
  }
  console.log(
    `${count.toLocaleString('en')} rows by ${order} (best of ${runs}): before ${old.ms.toFixed(0)} ms, ` +
      `now ${now.ms.toFixed(0)} ms (before/now ${(old.ms / now.ms).toFixed(2)}); ` +
      `longest event-loop wait before ${old.stallMs.toFixed(0)} ms, now ${now.stallMs.toFixed(0)} ms; ` +
      `same order: ${same ? 'yes' : 'NO'}`
  );
}
