import { contractMembers, type ChannelName, type ContractTransport, type Listener, type ResultEnvelope, type Unsubscribe } from '../../shared/contract/index.js';
import type { ErrorData } from '../../shared/errors.js';
import { apiPathOf, tokenHeader } from '../../shared/http-api.js';
import { createEventStreamClient } from './event-stream.js';

export interface HttpTransportOptions {
  /** Absent when the page was opened without `#token=…` and none is kept from earlier. */
  readonly token: string | undefined;
  readonly fetch: typeof fetch;
  /** Where `drc serve` answers; the page's own origin (an empty base) unless a test says otherwise. */
  readonly baseUrl?: string;
}

const reopenHint = 'open the URL drc serve printed (it ends with #token=…); every run of drc serve has a new one';

export const missingTokenError: ErrorData = {
  code: 'TOKEN_INVALID',
  message: 'unable to call DR Console: this page was opened without its access token',
  hints: [reopenHint],
  retryable: false,
};

function unreachable(baseUrl: string, reason: unknown): ErrorData {
  return {
    code: 'HOST_UNREACHABLE',
    message: `unable to reach DR Console${baseUrl === '' ? '' : ` at ${baseUrl}`}: ${reason instanceof Error ? reason.message : String(reason)}`,
    hints: ['drc serve may have stopped: start it again and open the URL it prints', reopenHint],
    retryable: true,
  };
}

function isEnvelope(body: unknown): body is ResultEnvelope<unknown> {
  return typeof body === 'object' && body !== null && typeof (body as { ok?: unknown }).ok === 'boolean';
}

/**
 * The contract over `drc serve`: each method is `POST /api/<service>/<member>` carrying
 * the token in a header, and every subscription shares one event stream. The answers
 * are the same envelopes the desktop app gets over IPC, so the views cannot tell the
 * two apart.
 */
export function createHttpTransport(options: HttpTransportOptions): ContractTransport {
  const { token, baseUrl = '' } = options;
  const paths = new Map<string, string>(contractMembers.map((member) => [member.channel, apiPathOf(member)]));
  const events = token === undefined ? undefined : createEventStreamClient({ token, fetch: options.fetch, baseUrl });

  return {
    async call(channel: ChannelName, input: unknown): Promise<ResultEnvelope<unknown>> {
      if (token === undefined) return { ok: false, error: missingTokenError };
      const path = paths.get(channel);
      if (path === undefined) {
        return { ok: false, error: { code: 'USAGE', message: `unable to use channel '${channel}': it is not part of the DR Console contract`, hints: [], retryable: false } };
      }
      let response: Response;
      try {
        response = await options.fetch(`${baseUrl}${path}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', [tokenHeader]: token },
          body: JSON.stringify(input ?? {}),
          credentials: 'omit',
          cache: 'no-store',
        });
      } catch (error) {
        return { ok: false, error: unreachable(baseUrl, error) };
      }
      const body: unknown = await response.json().catch(() => undefined);
      if (isEnvelope(body)) return body;
      return { ok: false, error: unreachable(baseUrl, new Error(`the answer was HTTP ${String(response.status)} without a DR Console envelope`)) };
    },
    listen(channel: ChannelName, listener: Listener<unknown>): Unsubscribe {
      // Without a token there is nothing to stream; the calls say why.
      return events ? events.listen(channel, listener) : () => undefined;
    },
  };
}
