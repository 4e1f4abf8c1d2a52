import { DrcError } from '../../shared/errors.js';

/**
 * A refused login is one mistake whichever connection meets it first — the replication
 * stream of `backup` and `wal stream`, the SQL session of `status` and `restore-point`, the
 * live database of `restore --tables` — so it gets one code (PG_AUTH_FAILED, exit 2) and
 * one hint everywhere, and a script branches on it once.
 */

/** SQLSTATEs of a refused login: invalid_password, invalid_authorization_specification (pg_hba.conf, no such role). */
const loginRefusedStates = new Set(['28P01', '28000']);

export function isLoginRefused(sqlState: unknown): boolean {
  return typeof sqlState === 'string' && loginRefusedStates.has(sqlState);
}

/** What to check when the server turns a login away, the same from every command. */
export function loginRefusedHint(user: string): string {
  return `check the user name and the password stored for '${user}' (keychain or env reference, PGPASSWORD or ~/.pgpass), and that pg_hba.conf admits this user from this host`;
}

/** `where` completes "unable to log in to …", e.g. "PostgreSQL at db1:5432" or "the live database host=db1 dbname=wedsync". */
export function loginRefused(where: string, user: string, why: string, cause?: unknown): DrcError {
  return new DrcError('PG_AUTH_FAILED', `unable to log in to ${where} as '${user}': ${why}`, { hints: [loginRefusedHint(user)], ...(cause === undefined ? {} : { cause }) });
}

/**
 * The `pg` client's connect failure as PG_AUTH_FAILED when the server refused the login
 * (its error carries the SQLSTATE as `code`); undefined for anything else (a server that
 * is down, a timeout), which the caller reports as it does today.
 */
export function pgLoginError(error: unknown, where: string, user: string): DrcError | undefined {
  if (isLoginRefused((error as { code?: unknown } | undefined)?.code)) return loginRefused(where, user, (error as Error).message, error);
  // The client's own words when the server asks for a SCRAM proof and no password was given:
  // the same mistake as a wrong one, found before the server could say so.
  if (error instanceof Error && error.message.includes('client password must be a string')) return loginRefused(where, user, 'the server asks for a password and none is configured', error);
  return undefined;
}
