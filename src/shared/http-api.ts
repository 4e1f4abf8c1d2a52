import type { ContractMember } from './contract/index.js';

/**
 * How the contract travels over HTTP under `drc serve`. The host and the renderer's
 * transport both read these, so a path or header is never spelled twice.
 */

/** Every API call carries the per-run token in this header; a header, not a cookie, so no other site can make the browser send it. */
export const tokenHeader = 'x-drc-token';

/** One server-sent-events stream multiplexes every contract subscription, one `event:` per channel. */
export const eventStreamPath = '/api/stream';

/** Requests with a larger body are refused before they are read to the end. */
export const maximumRequestBytes = 1024 * 1024;

/** `POST /api/<service>/<member>` for each contract method. */
export function apiPathOf(member: Pick<ContractMember, 'service' | 'member'>): string {
  return `/api/${member.service}/${member.member}`;
}

/**
 * The dashboard's views, by path. Over HTTP each serves the page, which then shows the
 * view its path names; `/admin/backups` is the seed's address of the Backups view.
 */
export const consoleViewPaths = ['/', '/overview', '/timeline', '/backups', '/restore-tests', '/repositories', '/events', '/admin/backups'] as const;
