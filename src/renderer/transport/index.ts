import { createContractClient, type ContractClient } from '../../shared/contract/index.js';
import { takeAccessToken } from './access-token.js';
import { createHttpTransport } from './http-transport.js';

/**
 * The dashboard's one way to the services. In the desktop app the preload has put the
 * contract client on `window.drc`; in a browser opened from `drc serve` the same client
 * is built over HTTP with the token the URL carried. A page opened without one still
 * gets a client: every call then fails with TOKEN_INVALID and the hint to open the
 * printed URL, shown like any other error.
 */
export function connectToConsole(): ContractClient {
  if (window.drc) return window.drc;
  return createContractClient(createHttpTransport({ token: takeAccessToken(window), fetch: window.fetch.bind(window) }));
}
