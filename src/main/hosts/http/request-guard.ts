import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { tokenHeader } from '../../../shared/http-api.js';
import { DrcError } from '../../../shared/errors.js';

const reopenHint = 'open the URL drc serve printed (it ends with #token=…); every run of drc serve has a new one';

/**
 * The `Host` a request names must be this server's own loopback address. A web page on
 * some other site can point its own DNS name at 127.0.0.1 (DNS rebinding) and then talk
 * to the console as "same origin"; its requests still carry that foreign name in `Host`.
 */
export function checkHost(request: IncomingMessage, port: number): string {
  const host = request.headers.host?.toLowerCase();
  if (host === `127.0.0.1:${String(port)}` || host === `localhost:${String(port)}`) return host;
  throw new DrcError('HOST_FORBIDDEN', `unable to serve a request for host '${request.headers.host ?? '(none)'}': DR Console answers only at 127.0.0.1:${String(port)}`, {
    hints: [`open http://127.0.0.1:${String(port)}/ directly; a proxy or another name for this machine is refused on purpose`],
  });
}

/**
 * Browsers send `Origin` on every cross-origin request and on same-origin POSTs. When it
 * is there it must be the page this server served, so another site open in the same
 * browser cannot drive the console even if it somehow had the token.
 */
export function checkOrigin(request: IncomingMessage, host: string): void {
  const origin = request.headers.origin;
  if (origin === undefined || origin === `http://${host}`) return;
  throw new DrcError('ORIGIN_FORBIDDEN', `unable to serve a request from '${origin}': only pages served by this drc serve may call it`, {
    hints: [reopenHint],
  });
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Every API call carries the run's token. Compared through fixed-length digests with a
 * constant-time compare, so response timing says nothing about how much of a guess was right.
 */
export function checkToken(request: IncomingMessage, expectedDigest: Buffer): void {
  const given = request.headers[tokenHeader];
  if (typeof given === 'string' && given !== '' && timingSafeEqual(digest(given), expectedDigest)) return;
  throw new DrcError('TOKEN_INVALID', `unable to call DR Console: the request ${typeof given === 'string' ? 'carries a wrong' : 'has no'} access token`, {
    hints: [reopenHint],
  });
}

export function tokenDigest(token: string): Buffer {
  return digest(token);
}
