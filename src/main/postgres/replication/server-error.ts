import { DrcError, type ErrorCode } from '../../../shared/errors.js';
import { isLoginRefused, loginRefusedHint } from '../login-errors.js';

/**
 * An ErrorResponse from the server, as a DrcError: the server's message, detail and hint
 * are kept, and the SQLSTATE decides the error code, so callers can branch on either.
 */
export class PgServerError extends DrcError {
  readonly sqlState: string;
  readonly severity: string;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, server: { sqlState: string; severity: string; detail: string | undefined; hints: string[]; retryable?: boolean }) {
    super(code, message, { hints: server.hints, retryable: server.retryable });
    this.name = 'PgServerError';
    this.sqlState = server.sqlState;
    this.severity = server.severity;
    this.detail = server.detail;
  }
}

interface ErrorContext {
  /** What was being done, completing "unable to …", e.g. "run BASE_BACKUP on 10.0.0.5:5432". */
  readonly action: string;
  /** Errors during startup are about who may connect; later ones are about the command. */
  readonly phase: 'startup' | 'command';
  readonly user: string;
  /** Where the login went, e.g. "PostgreSQL at 10.0.0.5:5432": a refused login says "unable to log in to …", as from every other connection. */
  readonly endpoint?: string;
}

const roleHint = (user: string): string => `the role needs the REPLICATION attribute: ALTER ROLE "${user}" REPLICATION`;
const hbaHint =
  'the console connects with replication=database, which pg_hba.conf matches against the database column (e.g. "all" or the database name), not the "replication" keyword: add e.g. `host all <user> <client address> scram-sha-256` and reload';

function classify(sqlState: string, message: string, context: ErrorContext): { code: ErrorCode; retryable?: boolean; hints: string[] } {
  if (context.phase === 'startup') {
    // pg_hba.conf's name is not translated, so this holds for any lc_messages.
    if (sqlState === '28000' && message.includes('pg_hba.conf')) return { code: 'PG_REPLICATION_REFUSED', hints: [hbaHint] };
    if (isLoginRefused(sqlState)) {
      return { code: 'PG_AUTH_FAILED', hints: [loginRefusedHint(context.user)] };
    }
    if (sqlState === '42501') return { code: 'PG_REPLICATION_REFUSED', hints: [roleHint(context.user)] };
    if (sqlState === '3D000') return { code: 'PG_CONNECT_FAILED', retryable: false, hints: ['check the database name in the connection settings'] };
  }
  if (sqlState === '53300') {
    return { code: 'PG_CONNECT_FAILED', hints: ['the server has no free connection or WAL sender slot: raise max_wal_senders / max_connections, or stop an idle replication client'] };
  }
  if (sqlState.startsWith('08') || sqlState.startsWith('57P')) return { code: 'PG_CONNECT_FAILED', hints: ['the server is starting, stopping or in recovery; try again shortly'] };
  return { code: 'PG_QUERY_FAILED', hints: [] };
}

export function serverError(fields: Map<string, string>, context: ErrorContext): PgServerError {
  const sqlState = fields.get('C') ?? 'XX000';
  const text = fields.get('M') ?? 'unknown error';
  const detail = fields.get('D');
  const severity = fields.get('V') ?? fields.get('S') ?? 'ERROR';
  const { code, retryable, hints } = classify(sqlState, text, context);
  const serverHint = fields.get('H');
  const action = code === 'PG_AUTH_FAILED' && context.endpoint !== undefined ? `log in to ${context.endpoint} as '${context.user}'` : context.action;
  return new PgServerError(code, `unable to ${action}: ${text}${detail === undefined ? '' : ` (${detail})`} [SQLSTATE ${sqlState}]`, {
    sqlState,
    severity,
    detail,
    hints: serverHint === undefined ? hints : [serverHint, ...hints],
    retryable,
  });
}
