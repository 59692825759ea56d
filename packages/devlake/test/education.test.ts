import { describe, expect, it } from 'vitest';
import { CONTAINERS, DIPHOTON_COLUMNS, fileContent, seededRandom } from '../src/catalogue.js';

const SCOPE = 'atlas_opendata';
const container = CONTAINERS.find(c => c.scope === SCOPE && c.name === 'education');
const dataset = container?.datasets.find(d => d.name === 'education.GamGam.events');

/** The rows of a diphoton events table, with the lines that are not five numbers. */
function parseCsv(text: string): { header: string; rows: number[][]; bad: string[] } {
  const [header = '', ...lines] = text.trimEnd().split('\n');
  const rows: number[][] = [];
  const bad: string[] = [];
  for (const line of lines) {
    const values = line.split(',').map(cell => (cell.trim() === '' ? NaN : Number(cell)));
    if (values.length === 5 && values.every(v => Number.isFinite(v))) {
      rows.push(values);
    } else {
      bad.push(line);
    }
  }
  return { header, rows, bad };
}

/** Counts of `values` in 1-unit bins from `low` (inclusive) to `high` (exclusive). */
function histogram(values: readonly number[], low: number, high: number): number[] {
  const counts = new Array<number>(high - low).fill(0);
  for (const value of values) {
    if (value >= low && value < high) {
      counts[Math.floor(value - low)] = (counts[Math.floor(value - low)] ?? 0) + 1;
    }
  }
  return counts;
}

/** Least-squares line through (x, y): the sideband fit of log(counts). */
function fitLine(points: readonly (readonly [number, number])[]): (x: number) => number {
  const n = points.length;
  const sx = points.reduce((s, [x]) => s + x, 0);
  const sy = points.reduce((s, [, y]) => s + y, 0);
  const sxx = points.reduce((s, [x]) => s + x * x, 0);
  const sxy = points.reduce((s, [x, y]) => s + x * y, 0);
  const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const intercept = (sy - slope * sx) / n;
  return x => intercept + slope * x;
}

describe('the tutorial’s diphoton events (atlas_opendata:education.GamGam.events)', () => {
  it('when the demo data is listed, then the container holds the dataset with the metadata the tutorial searches for', () => {
    expect(container?.meta).toEqual({ project: 'opendata_education' });
    expect(dataset?.meta).toMatchObject({
      datatype: 'table',
      channel: 'GamGam',
      stream_name: 'physics_Main'
    });
    // The integration tests' `run_number > 300000` searches of atlas_opendata must still find
    // only the MC dataset.
    expect(dataset?.meta['run_number']).toBeLessThanOrEqual(300_000);
    expect(dataset?.rses).toEqual(['CERN_DATADISK']);
    expect(dataset?.files.map(f => f.name)).toEqual([
      'education/GamGam/events_A.csv',
      'education/GamGam/events_B.csv',
      'education/GamGam/events_C.csv',
      'education/GamGam/events_D.csv'
    ]);
  });

  it('when the files are generated twice, then they are identical, their registered size is their length, and each is under 300 KB', () => {
    expect(dataset?.files).toHaveLength(4);
    for (const file of dataset?.files ?? []) {
      const content = fileContent(SCOPE, file);
      expect(content.length, file.name).toBe(file.bytes);
      expect(content.length, file.name).toBeLessThan(300_000);
      expect(fileContent(SCOPE, { ...file }).equals(content), file.name).toBe(true);
    }
    const [a, b] = dataset?.files ?? [];
    expect(a && b && fileContent(SCOPE, a).equals(fileContent(SCOPE, b))).toBe(false);
  });

  it('when the four files are read as CSV, then they hold 20,000 events with a 1-GeV mass histogram whose largest excess over the sideband fit is between 123 and 127 GeV', () => {
    const tables = (dataset?.files ?? []).map(file =>
      parseCsv(fileContent(SCOPE, file).toString('utf8'))
    );
    expect(tables.map(t => t.header)).toEqual(Array<string>(4).fill(DIPHOTON_COLUMNS));
    expect(tables.flatMap(t => t.bad)).toEqual([]);
    const rows = tables.flatMap(t => t.rows) as [number, number, number, number, number][];
    expect(rows).toHaveLength(20_000);
    expect(new Set(rows.map(([run, event]) => `${run}:${event}`)).size).toBe(20_000);
    expect(
      rows.filter(([, , mass, pt1, pt2]) => !(mass >= 100 && mass < 160 && pt1 >= pt2 && pt2 > 0))
    ).toEqual([]);

    const counts = histogram(
      rows.map(([, , mass]) => mass),
      100,
      160
    );
    const centre = (i: number): number => 100.5 + i;
    const sidebands = counts
      .map((count, i) => [centre(i), count] as const)
      .filter(([mass, count]) => (mass < 120 || mass > 130) && count > 0)
      .map(([mass, count]) => [mass, Math.log(count)] as const);
    const logFit = fitLine(sidebands);
    const expected = (i: number): number => Math.exp(logFit(centre(i)));
    const excess = counts.map((count, i) => count - expected(i));
    const peak = excess.indexOf(Math.max(...excess));
    expect(centre(peak)).toBeGreaterThan(123);
    expect(centre(peak)).toBeLessThan(127);

    // The bump is clear, not a fluctuation: more than 5 sigma of the background in 120–130 GeV.
    const window = [...counts.keys()].filter(i => centre(i) > 120 && centre(i) < 130);
    const signal = window.reduce((s, i) => s + (excess[i] ?? 0), 0);
    const background = window.reduce((s, i) => s + expected(i), 0);
    expect(signal).toBeGreaterThan(5 * Math.sqrt(background));
    // ... and the background falls.
    expect(counts[0]).toBeGreaterThan(2 * (counts[59] ?? 0));
  });

  it('when the seeded random numbers are drawn, then the same key gives the same sequence in [0, 1) and another key another', () => {
    const draw = (key: string): number[] => {
      const random = seededRandom(key);
      return Array.from({ length: 1000 }, () => random());
    };
    const first = draw('atlas_opendata:a.csv');
    expect(draw('atlas_opendata:a.csv')).toEqual(first);
    expect(draw('atlas_opendata:b.csv')).not.toEqual(first);
    expect(first.every(x => x >= 0 && x < 1)).toBe(true);
    const mean = first.reduce((s, x) => s + x, 0) / first.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});
