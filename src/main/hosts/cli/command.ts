import type { ParseArgsConfig } from 'node:util';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { DrcError } from '../../../shared/errors.js';
import { describeLocalTime, parseTime } from '../../../shared/time.js';
import { parseLsn } from '../../postgres/lsn.js';
import type { SecretInputStream } from '../../secrets/prompt.js';
import type { Keychain } from '../../secrets/keychain.js';
import { createContext, type ServiceContext } from '../../services/context.js';

/** What a `drc` command gets and gives back; the runner does parsing, output and exit codes. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: SecretInputStream;
  readonly keychain?: Keychain;
  /** Stops long-running commands (`wal stream`) cleanly; the process host wires SIGINT/SIGTERM to it. */
  readonly signal?: AbortSignal;
}

export interface CommandResult {
  readonly json: unknown;
  readonly text: string;
  /**
   * 1 when the command ran but found a problem (verify found corrupt objects); 2 when what it
   * found is a configuration error that still leaves a report worth printing (status with a
   * refused database login).
   */
  readonly exitCode: 0 | 1 | 2;
}

/** One status line on a terminal's stderr, redrawn at most a few times a second; silent otherwise. */
export interface ProgressLine {
  show(text: string): void;
  finish(): void;
}

export interface Invocation {
  readonly args: string[];
  readonly values: Record<string, string | boolean | undefined>;
  readonly io: CliIo;
  readonly progress: ProgressLine;
}

export interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly options: ParseArgsConfig['options'];
  readonly positionals: number;
  /**
   * The command writes stdout itself while it runs (`serve` prints its URL first, then
   * serves until stopped), so the runner prints nothing more when it ends.
   */
  readonly writesOwnOutput?: boolean;
  readonly run: (invocation: Invocation) => Promise<CommandResult>;
}

export const repoOption = { repo: { type: 'string' } } as const;

export function optional<K extends string>(key: K, value: string | boolean | undefined): { [P in K]?: string } {
  return (typeof value === 'string' ? { [key]: value } : {}) as { [P in K]?: string };
}

export function required(value: string | boolean | undefined, flag: string, example: string): string {
  if (typeof value === 'string' && value !== '') return value;
  throw new DrcError('USAGE', `unable to run the command: ${flag} is required`, { hints: [example] });
}

export function contextFor(values: Invocation['values']): Promise<ServiceContext> {
  return createContext(typeof values.config === 'string' ? { configPath: values.config } : {});
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? String(value) : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}


/**
 * "done of total" for a live progress line. The total is an estimate made at the start
 * (the server's size of the cluster, which grows while a backup runs), so the count can
 * pass it: the total shown is then raised to the count and reads "of at least", and never
 * shows less than the count ("105.7 of 89.6 MiB" was seen). A total that grows between
 * updates reads "of at least" from then on.
 */
export function progressAmount(): (done: number, total: number) => string {
  let shownTotal = 0;
  let estimateShort = false;
  return (done, total) => {
    if (total <= 0) return formatBytes(done);
    if ((shownTotal > 0 && total > shownTotal) || done > total) estimateShort = true;
    shownTotal = Math.max(shownTotal, total, done);
    return `${formatBytes(done)} ${estimateShort ? 'of at least' : 'of'} ${formatBytes(shownTotal)}`;
  };
}

export function formatDuration(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${String(minutes)} min ${String(Math.round(seconds % 60))} s` : `${String(Math.floor(minutes / 60))} h ${String(minutes % 60)} min`;
}

/** The options that name a recovery target, shared by `restore`, `restore --tables` and `restore-test`. */
export const recoveryTargetOptions = {
  time: { type: 'string' },
  lsn: { type: 'string' },
  name: { type: 'string' },
  xid: { type: 'string' },
  immediate: { type: 'boolean', default: false },
  latest: { type: 'boolean', default: false },
} as const;

/**
 * A time the DBA typed, as ISO 8601 UTC, read strictly (see shared/time.ts). A time
 * without an offset is local time: the command says so on stderr, where it does not
 * disturb a --json document, so the DBA sees which instant was meant.
 */
export function cliTime(text: string, option: string, io: Pick<CliIo, 'stderr'>): string {
  const parsed = parseTime(text, option);
  if (parsed.local) io.stderr.write(`note: ${describeLocalTime(option, text, parsed)}\n`);
  return parsed.iso;
}

/** Exactly one target: a restore without one would silently mean "latest". */
export function recoveryTarget(values: Invocation['values'], io: Pick<CliIo, 'stderr'>): RecoveryTarget {
  const given: RecoveryTarget[] = [];
  if (typeof values.time === 'string') given.push({ kind: 'time', time: cliTime(values.time, '--time', io) });
  if (typeof values.lsn === 'string') {
    parseLsn(values.lsn);
    given.push({ kind: 'lsn', lsn: values.lsn });
  }
  if (typeof values.name === 'string') given.push({ kind: 'name', name: values.name });
  if (typeof values.xid === 'string') {
    if (!/^\d+$/.test(values.xid)) throw new DrcError('USAGE', `unable to read --xid '${values.xid}'`, { hints: ['a transaction id is a whole number'] });
    given.push({ kind: 'xid', xid: values.xid });
  }
  if (values.immediate === true) given.push({ kind: 'immediate' });
  if (values.latest === true) given.push({ kind: 'latest' });
  const [target, ...extra] = given;
  if (!target || extra.length > 0) {
    throw new DrcError('USAGE', `unable to restore: give exactly one target (${given.length === 0 ? 'none was given' : `${String(given.length)} were given`})`, {
      hints: ['--time ISO8601 (e.g. just before the rows were deleted), --lsn LSN, --name RESTORE_POINT, --xid XID, --immediate (end of the backup) or --latest (everything the repositories hold)'],
    });
  }
  return target;
}
