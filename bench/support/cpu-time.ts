import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './processes.js';

/**
 * CPU seconds (user + system) spent by a PostgreSQL server: the postmaster and every
 * process under it, the exited ones included (a backend's or walsender's time is added to
 * the postmaster's children counters when it is reaped; an archive_command's to the
 * archiver's). Read from /proc, so Linux only: undefined elsewhere.
 */
export async function serverCpuSeconds(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const ticks = await clockTicks();
    const stats = await processStats();
    let total = 0;
    const queue = [pid];
    while (queue.length > 0) {
      const each = queue.pop() ?? 0;
      const stat = stats.get(each);
      if (!stat) continue;
      total += stat.ticks;
      for (const [child, entry] of stats) if (entry.ppid === each) queue.push(child);
    }
    return total / ticks;
  } catch {
    return undefined;
  }
}

/** This process's CPU seconds, every thread included (the crypto workers too). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

let ticksPerSecond: number | undefined;

async function clockTicks(): Promise<number> {
  if (ticksPerSecond === undefined) {
    const value = Number((await run('getconf', ['CLK_TCK'], { check: false })).stdout.trim());
    ticksPerSecond = Number.isFinite(value) && value > 0 ? value : 100;
  }
  return ticksPerSecond;
}

/** utime + stime + cutime + cstime, and the parent, of every process. */
async function processStats(): Promise<Map<number, { ppid: number; ticks: number }>> {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (text === '') continue;
    // Fields after the command name (which may hold spaces): state is field 3, so field n is at n - 3.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const field = (n: number): number => Number(fields[n - 3] ?? 0);
    stats.set(Number(entry), { ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) });
  }
  return stats;
}
