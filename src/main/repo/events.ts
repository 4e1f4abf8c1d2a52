import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { z } from 'zod';

/**
 * Append-only operation records. Each is its own object, named by time and a random
 * suffix, written once and never rewritten, so the history survives in every repository
 * and can be rebuilt on a fresh workstation from a USB stick alone.
 */
export const eventSchema = z.object({
  id: z.string(),
  time: z.string(),
  type: z.string(),
  outcome: z.enum(['success', 'failure', 'partial']),
  operator: z.string(),
  host: z.string(),
  summary: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type RepositoryEvent = z.infer<typeof eventSchema>;

export function newEvent(
  type: string,
  outcome: RepositoryEvent['outcome'],
  summary: string,
  details: Record<string, unknown>,
  now: Date = new Date(),
): RepositoryEvent {
  return { id: randomBytes(8).toString('hex'), time: now.toISOString(), type, outcome, operator: currentOperator(), host: hostname(), summary, details };
}

export function eventObjectName(event: RepositoryEvent): string {
  // Sortable by name: compact UTC time first.
  return `events/${event.time.replace(/[-:.]/g, '')}-${event.id}`;
}

export function currentOperator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}
