import type { ServerResponse } from 'node:http';
import { DrcError, errorRegistry, type ErrorCode, type ErrorData } from '../../../shared/errors.js';
import { redactDeep } from '../../secrets/redact.js';
import { contentSecurityPolicy } from '../content-security-policy.js';

/**
 * What every response of `drc serve` carries, whatever it is: the desktop shell's CSP
 * (plus `frame-ancestors`, which only works as a header, so no other page can frame the
 * console and trick a click on Restore), no MIME sniffing, no referrer leaving the page.
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy': `${contentSecurityPolicy}; frame-ancestors 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Refusals the host itself makes have a fixed status; the services' errors map by kind. */
const hostStatus: Partial<Record<ErrorCode, number>> = {
  HOST_FORBIDDEN: 421,
  ORIGIN_FORBIDDEN: 403,
  TOKEN_INVALID: 401,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_MALFORMED: 400,
  REQUEST_TOO_LARGE: 413,
  USAGE: 400,
  BACKUP_NOT_FOUND: 404,
  REPOSITORY_UNKNOWN: 404,
};

/**
 * The HTTP status for an error the browser gets. The envelope in the body is what the
 * dashboard reads; the status is for proxies, logs and scripts that look only at it.
 * A request the person can fix is a 4xx; a failure of the work itself is a 5xx
 * (503 when retrying may help: a cloud or a removable drive that is not there now).
 */
export function httpStatusFor(error: ErrorData): number {
  const fixed = hostStatus[error.code];
  if (fixed !== undefined) return fixed;
  const { kind } = errorRegistry[error.code];
  if (kind === 'usage') return 400;
  if (kind === 'config') return 409;
  return error.retryable ? 503 : 500;
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(redactDeep(body));
  response.writeHead(status, {
    ...securityHeaders,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** A refusal in the contract's envelope, so the dashboard shows it like any other error. */
export function sendError(response: ServerResponse, error: DrcError, headers: Record<string, string> = {}): void {
  const data = error.toData();
  sendJson(response, httpStatusFor(data), { ok: false, error: data }, headers);
}
