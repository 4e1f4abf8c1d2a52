/**
 * One registry of named errors. Every failure that reaches a DBA — in the CLI, the
 * dashboard or an event record — carries one of these codes, a message that reads
 * "unable to <verb> <object> '<name>'", and hints that say what to do next.
 *
 * `kind` decides the CLI exit code: usage and config errors exit 2, everything else 1.
 */
export type ErrorKind = 'usage' | 'config' | 'operation';

interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
}

const spec = (kind: ErrorKind, retryable = false): ErrorSpec => ({ kind, retryable });

export const errorRegistry = {
  USAGE: spec('usage'),
  TIME_INVALID: spec('usage'),
  CONFIG_NOT_FOUND: spec('config'),
  CONFIG_INVALID: spec('config'),
  REPO_PATH_NOT_DIRECTORY: spec('config'),
  REPO_PATH_UNUSABLE: spec('config'),
  REPOSITORY_UNKNOWN: spec('config'),
  SECRET_UNRESOLVED: spec('config'),
  KEYCHAIN_UNAVAILABLE: spec('config'),

  REPO_NOT_INITIALIZED: spec('operation'),
  REPO_ALREADY_INITIALIZED: spec('operation'),
  REPO_FORMAT_TOO_NEW: spec('operation'),
  REPO_FORMAT_TOO_OLD: spec('operation'),
  REPO_HEADER_INVALID: spec('operation'),
  REPO_MISMATCH: spec('operation'),
  PASSPHRASE_WRONG: spec('operation'),
  PASSPHRASE_TOO_SHORT: spec('usage'),
  PASSPHRASE_LAST_SLOT: spec('operation'),
  KEY_SLOT_NOT_FOUND: spec('operation'),
  OBJECT_CORRUPT: spec('operation'),
  OBJECT_MISSING: spec('operation'),
  LOCK_HELD: spec('operation'),
  VERIFY_FOUND_PROBLEMS: spec('operation'),
  SYNC_INCOMPLETE: spec('operation'),

  STORAGE_NOT_FOUND: spec('operation'),
  STORAGE_UNAVAILABLE: spec('operation', true),
  STORAGE_PERMISSION: spec('operation'),
  STORAGE_VERIFY_FAILED: spec('operation', true),
  STORAGE_IO: spec('operation'),
  MEDIA_NOT_PRESENT: spec('operation'),

  PG_CONNECT_FAILED: spec('operation', true),
  PG_AUTH_FAILED: spec('config'),
  PG_PROTOCOL: spec('operation'),
  PG_REPLICATION_REFUSED: spec('config'),
  PG_SERVER_UNSUPPORTED: spec('operation'),
  PG_BINARIES_NOT_FOUND: spec('operation'),
  PG_QUERY_FAILED: spec('operation'),
  PG_TLS_REQUIRED: spec('config'),
  PG_TLS_VERIFY_FAILED: spec('config'),

  BACKUP_FAILED: spec('operation'),
  BACKUP_NOT_FOUND: spec('operation'),
  WAL_MISSING: spec('operation'),
  WAL_INVALID: spec('operation'),
  RESTORE_TARGET_NOT_EMPTY: spec('usage'),
  RESTORE_TARGET_IN_USE: spec('usage'),
  RESTORE_TARGET_UNREACHABLE: spec('operation'),
  RESTORE_FAILED: spec('operation'),
  RECOVERY_TARGET_UNREACHABLE: spec('operation'),
  RESTORE_POINT_NAME_INVALID: spec('usage'),

  RESTORE_TEST_FAILED: spec('operation'),
  SCRATCH_INSTANCE_FAILED: spec('operation'),
  PARTIAL_RESTORE_TABLE_EXISTS: spec('usage'),
  PARTIAL_RESTORE_TABLE_NOT_FOUND: spec('operation'),
  PARTIAL_RESTORE_FAILED: spec('operation'),

  // The browser host (`drc serve`): requests it refuses before any service runs.
  HOST_FORBIDDEN: spec('usage'),
  ORIGIN_FORBIDDEN: spec('usage'),
  TOKEN_INVALID: spec('usage'),
  ROUTE_NOT_FOUND: spec('usage'),
  METHOD_NOT_ALLOWED: spec('usage'),
  REQUEST_MALFORMED: spec('usage'),
  REQUEST_TOO_LARGE: spec('usage'),
  PORT_IN_USE: spec('usage'),
  HOST_UNREACHABLE: spec('operation', true),
  RENDERER_NOT_BUILT: spec('config'),

  INTERNAL: spec('operation'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;

/** The shape an error has when it crosses a process boundary or is printed as JSON. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  hints: string[];
  retryable: boolean;
}

export class DrcError extends Error {
  readonly code: ErrorCode;
  readonly hints: string[];
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { hints?: string[]; retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DrcError';
    this.code = code;
    this.hints = options.hints ?? [];
    this.retryable = options.retryable ?? errorRegistry[code].retryable;
  }

  get kind(): ErrorKind {
    return errorRegistry[this.code].kind;
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message, hints: [...this.hints], retryable: this.retryable };
  }
}

export function isDrcError(error: unknown, code?: ErrorCode): error is DrcError {
  return error instanceof DrcError && (code === undefined || error.code === code);
}

/** Exit code for the CLI: 2 for usage and configuration errors, 1 for everything else. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return error instanceof DrcError && error.kind !== 'operation' ? 2 : 1;
}
