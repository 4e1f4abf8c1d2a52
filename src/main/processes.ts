import { readFileSync } from 'node:fs';

/**
 * Whether a process of this host runs — the one test behind every "is its owner still
 * there" question (locks, leases, scratch instances, the scheduler's state, temporary
 * files). EPERM means it exists under another user. A zombie (Linux state Z) has stopped
 * running though its pid still answers signals: a postmaster outlives the pg_ctl that
 * started it and init may take a while to reap it. Where /proc cannot be read (off
 * Linux), the signal's answer is trusted.
 */
export function processAlive(pid: number): boolean {
  // kill(0, …) and kill(-n, …) address process groups, not a process.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  } catch {
    return true;
  }
  // The command name (field 2) may hold spaces and parentheses: the state follows the last ')'.
  return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
}
