import { DrcError } from '../../shared/errors.js';
import { forEachConcurrent } from '../parallel.js';
import type { RepositoryEvent } from '../repo/events.js';
import { readFromFirstSound } from '../repo/object-source.js';
import { objectPrefixes } from '../repo/objects.js';
import type { Repository } from '../repo/repository.js';
import { withRepositorySet, type ServiceContext } from './context.js';
import { ImmutableObjectCache } from './immutable-cache.js';

/**
 * Operation history: the event records every repository holds, merged. Each record is
 * written to every repository an operation touched and never rewritten, so the union of
 * what the reachable repositories hold — one USB stick on a fresh workstation is enough —
 * is the history. A record is read once, from the cheapest repository that has it.
 */
export interface HistoryEvent extends RepositoryEvent {
  /** The repositories holding this record. */
  repositories: string[];
}

export interface EventHistory {
  events: HistoryEvent[];
  unreachable: Array<{ repository: string; message: string }>;
  /** Records that no repository could give back intact. */
  unreadable: Array<{ object: string; repositories: string[]; message: string }>;
}

/** Event records are never rewritten: one authenticated read serves every later call. */
const eventCache = new ImmutableObjectCache<RepositoryEvent>(50_000);

/** Local disks first, then removable media, then the cloud: the same record costs least there. */
const readCost = { fixed: 0, removable: 1, cloud: 2 } as const;

/** `events/<compact UTC time>-<id>`, as eventObjectName writes it. */
function parseEventName(name: string): { compactTime: string; id: string } | undefined {
  const match = /^events\/([0-9TZ]+)-([0-9a-f]+)$/.exec(name);
  return match?.[1] && match[2] ? { compactTime: match[1], id: match[2] } : undefined;
}

function compactTime(time: Date): string {
  return time.toISOString().replace(/[-:.]/g, '');
}

export async function readEventHistory(repositories: readonly Repository[], options: { since?: Date; concurrency?: number } = {}): Promise<Pick<EventHistory, 'events' | 'unreadable'>> {
  const ordered = [...repositories].sort((a, b) => readCost[a.target.capabilities.media] - readCost[b.target.capabilities.media]);
  const since = options.since === undefined ? undefined : compactTime(options.since);
  // id → where it is, in read-cost order; the time in the name lets --since skip records unread.
  const holders = new Map<string, { object: string; repositories: Repository[] }>();
  for (const repository of ordered) {
    for (const object of await repository.target.list(objectPrefixes.events)) {
      const parsed = parseEventName(object.name);
      if (!parsed || (since !== undefined && parsed.compactTime < since)) continue;
      const entry = holders.get(parsed.id) ?? { object: object.name, repositories: [] };
      entry.repositories.push(repository);
      holders.set(parsed.id, entry);
    }
  }
  const events: HistoryEvent[] = [];
  const unreadable: EventHistory['unreadable'] = [];
  await forEachConcurrent(holders.values(), options.concurrency ?? 16, async (holder) => {
    const names = holder.repositories.map((repository) => repository.name);
    const first = holder.repositories[0];
    if (!first) return;
    try {
      // A damaged or vanished copy is passed over for the next repository's, and logged in the set's fallbacks.
      const event = await readFromFirstSound(
        holder.object,
        holder.repositories,
        (repository) => eventCache.get(`${repository.header.repositoryId}/${holder.object}`, () => repository.readEvent(holder.object)),
        first.set.fallbacks,
      );
      events.push({ ...event, repositories: names });
    } catch (error) {
      // No sound copy anywhere, damaged or gone: the history lists it as unreadable rather than failing.
      if (!(error instanceof DrcError) || (error.code !== 'OBJECT_MISSING' && error.code !== 'OBJECT_CORRUPT')) throw error;
      unreadable.push({ object: holder.object, repositories: names, message: error.hints.slice(0, -1).join('; ') });
    }
  });
  events.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  return { events, unreadable };
}

export function listEvents(context: ServiceContext, options: { since?: Date; type?: string } = {}): Promise<EventHistory> {
  return withRepositorySet(context, undefined, async (set) => {
    const history = await readEventHistory(set.repositories, options.since === undefined ? {} : { since: options.since });
    return {
      events: options.type === undefined ? history.events : history.events.filter((event) => event.type === options.type),
      unreachable: set.unreachable.map((entry) => ({ repository: entry.target.name, message: entry.error.message })),
      unreadable: history.unreadable,
    };
  });
}

const relativeUnits: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `--since`: an ISO 8601 time, or a span back from now such as `30m`, `12h`, `7d`, `2w`. */
export function parseSince(text: string, now: Date = new Date()): Date {
  const relative = /^(\d+)([mhdw])$/.exec(text.trim());
  if (relative?.[1] && relative[2]) return new Date(now.getTime() - Number(relative[1]) * (relativeUnits[relative[2]] ?? 0));
  const absolute = Date.parse(text);
  if (Number.isNaN(absolute)) {
    throw new DrcError('USAGE', `unable to read --since '${text}'`, { hints: ['use an ISO 8601 time (2026-06-14T09:30:00Z) or a span back from now: 30m, 12h, 7d, 2w'] });
  }
  return new Date(absolute);
}
