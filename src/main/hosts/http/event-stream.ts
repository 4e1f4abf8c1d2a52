import type { ServerResponse } from 'node:http';
import { contractMembers, subscribeService, type ContractServer, type Unsubscribe } from '../../../shared/contract/index.js';
import { redactDeep } from '../../secrets/redact.js';
import { securityHeaders } from './responses.js';

/** Often enough that proxies and browsers, which drop a silent stream after a minute or so, keep it open. */
const heartbeatMilliseconds = 15_000;

/** The open event streams of one host, so closing the host can end them. */
export interface EventStreams {
  open(response: ServerResponse): void;
  closeAll(): void;
}

/**
 * Server-sent events: one stream per page carries every contract subscription, each
 * event named by its channel (`event: drc:operations.changed`). The stream subscribes
 * to the services when a page connects and unsubscribes when it goes away, so a closed
 * tab leaves no listener behind.
 */
export function createEventStreams(services: ContractServer): EventStreams {
  const open = new Set<() => void>();

  return {
    open(response) {
      response.writeHead(200, {
        ...securityHeaders,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        // nginx and similar buffer responses unless told not to; events must arrive as they happen.
        'X-Accel-Buffering': 'no',
      });
      // A first comment sends the headers now, so the page knows the stream is up.
      response.write(': connected\n\n');

      const unsubscribes: Unsubscribe[] = contractMembers
        .filter((member) => member.kind === 'subscription')
        .map((member) =>
          subscribeService(services, member, (event) => {
            response.write(`event: ${member.channel}\ndata: ${JSON.stringify(redactDeep(event))}\n\n`);
          }),
        );
      const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), heartbeatMilliseconds);

      const close = (): void => {
        if (!open.delete(close)) return;
        clearInterval(heartbeat);
        for (const unsubscribe of unsubscribes) unsubscribe();
        response.end();
      };
      open.add(close);
      response.on('close', close);
    },
    closeAll() {
      for (const close of [...open]) close();
    },
  };
}
