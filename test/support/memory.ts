import { readdirSync, readFileSync } from 'node:fs';

/** Memory of a process and all its descendants, in bytes. */
export interface TreeMemory {
  readonly processes: number;
  /** Sum of the processes' resident set sizes: pages shared between them count once per process. */
  readonly rss: number;
  /** Sum of their proportional set sizes: a shared page is split between its sharers. */
  readonly pss: number;
}

interface ProcessInfo {
  readonly ppid: number;
  readonly rss: number;
  readonly pss: number;
}

/** A kB field (`VmRSS:`, `Pss:`) of a /proc file, in bytes; 0 when absent or unreadable. */
function kbField(file: string, field: string): number {
  try {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find(l => l.startsWith(field));
    return line === undefined ? 0 : Number(line.slice(field.length).trim().split(/\s+/)[0]) * 1024;
  } catch {
    return 0;
  }
}

function processTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      table.set(Number(entry), {
        ppid,
        rss: kbField(`/proc/${entry}/status`, 'VmRSS:'),
        pss: kbField(`/proc/${entry}/smaps_rollup`, 'Pss:')
      });
    } catch {
      // The process ended while the table was read.
    }
  }
  return table;
}

/**
 * Memory of each process tree rooted at the given pids (PostgreSQL's backends, gunicorn's workers
 * and the like included), read from /proc; a pid that is gone counts as nothing.
 */
export function treeMemory(roots: ReadonlyMap<string, number>): Map<string, TreeMemory> {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, info] of table) {
    children.set(info.ppid, [...(children.get(info.ppid) ?? []), pid]);
  }
  const result = new Map<string, TreeMemory>();
  for (const [name, root] of roots) {
    const pids = table.has(root) ? [root] : [];
    for (let i = 0; i < pids.length; i++) {
      pids.push(...(children.get(pids[i] as number) ?? []));
    }
    result.set(name, {
      processes: pids.length,
      rss: pids.reduce((sum, pid) => sum + (table.get(pid)?.rss ?? 0), 0),
      pss: pids.reduce((sum, pid) => sum + (table.get(pid)?.pss ?? 0), 0)
    });
  }
  return result;
}

/** A table of {@link treeMemory}'s answer in MiB, with a total line, for a test's output. */
export function memoryReport(memory: ReadonlyMap<string, TreeMemory>): string {
  const mib = (bytes: number): string => (bytes / 1024 ** 2).toFixed(0).padStart(6);
  const lines = [...memory].map(
    ([name, m]) =>
      `  ${name.padEnd(26)} ${String(m.processes).padStart(3)} processes  RSS ${mib(m.rss)} MiB  PSS ${mib(m.pss)} MiB`
  );
  const total = [...memory.values()].reduce(
    (sum, m) => ({ rss: sum.rss + m.rss, pss: sum.pss + m.pss }),
    { rss: 0, pss: 0 }
  );
  lines.push(`  ${'total'.padEnd(42)} RSS ${mib(total.rss)} MiB  PSS ${mib(total.pss)} MiB`);
  return lines.join('\n');
}
