import type { Listener, Unsubscribe } from '../../shared/contract/index.js';
import { eventStreamPath, tokenHeader } from '../../shared/http-api.js';

export interface EventStreamOptions {
  readonly token: string;
  readonly fetch: typeof fetch;
  readonly baseUrl: string;
  /** Milliseconds before reconnect number `attempt` (1, 2, …). */
  readonly retryDelay?: (attempt: number) => number;
}

export interface EventStreamClient {
  listen(channel: string, listener: Listener<unknown>): Unsubscribe;
}

/** 0.5 s, 1 s, 2 s … up to 30 s: quick after a blip, gentle while drc serve is down. */
const defaultRetryDelay = (attempt: number): number => Math.min(30_000, 500 * 2 ** (attempt - 1));

/**
 * These answers will not change by asking again (wrong token, foreign host or origin,
 * no stream at this address), so the client stops instead of hammering the server.
 */
const finalStatuses = new Set([401, 403, 404, 405, 421]);

/**
 * One server-sent-events stream for every subscription, read with `fetch` because the
 * token must travel in a header and `EventSource` cannot send one. It opens with the
 * first listener, closes with the last, reconnects with backoff when it drops, and
 * hands each event to the listeners of its channel.
 */
export function createEventStreamClient(options: EventStreamOptions): EventStreamClient {
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const listeners = new Map<string, Set<Listener<unknown>>>();
  let connection: AbortController | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;

  const listening = (): boolean => [...listeners.values()].some((set) => set.size > 0);

  const dispatch = (channel: string, data: string): void => {
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    for (const listener of listeners.get(channel) ?? []) listener(event);
  };

  const scheduleReconnect = (): void => {
    attempt += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, retryDelay(attempt));
  };

  async function connect(): Promise<void> {
    const controller = new AbortController();
    connection = controller;
    try {
      const response = await options.fetch(`${options.baseUrl}${eventStreamPath}`, {
        headers: { Accept: 'text/event-stream', [tokenHeader]: options.token },
        credentials: 'omit',
        cache: 'no-store',
        signal: controller.signal,
      });
      if (finalStatuses.has(response.status)) {
        connection = undefined;
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${String(response.status)}`);
      attempt = 0;
      await readEvents(response.body, dispatch);
    } catch {
      // A dropped stream is expected (drc serve restarted, laptop slept); reconnecting below handles it.
    }
    if (connection !== controller) return;
    connection = undefined;
    if (!controller.signal.aborted && listening()) scheduleReconnect();
  }

  const stop = (): void => {
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    connection?.abort();
    connection = undefined;
    attempt = 0;
  };

  return {
    listen(channel, listener) {
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
      }
      set.add(listener);
      if (!connection && retryTimer === undefined) void connect();
      return () => {
        set.delete(listener);
        if (!listening()) stop();
      };
    },
  };
}

/** Parses `text/event-stream`: blocks split by a blank line, `event:` and `data:` fields, `:` comments ignored. */
async function readEvents(body: ReadableStream<Uint8Array>, dispatch: (channel: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end = buffered.indexOf('\n\n');
    while (end !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let channel = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) channel = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) dispatch(channel, data.join('\n'));
      end = buffered.indexOf('\n\n');
    }
  }
}
