import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';

/** How bench entries describe the machine and print figures against targets, alike in each. */

/** The processor and its load: other work on the machine slows every figure, so a reader must see it. */
export async function describeMachine(): Promise<string> {
  let cpuinfo = '';
  try {
    cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown CPU';
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
  return `${model}, ${String(cores)} core(s) (from /proc/cpuinfo); load average ${describeLoad()}`;
}

export function describeLoad(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

export function verdict(value: number, target: number): 'PASS' | 'FAIL' {
  return value <= target ? 'PASS' : 'FAIL';
}

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
}
