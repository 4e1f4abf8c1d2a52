import type { ParseArgsConfig } from 'node:util';
import { DrcError } from '../../../shared/errors.js';
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
  /** 1 when the command ran but found a problem (verify found corrupt objects). */
  readonly exitCode: 0 | 1;
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


export function formatDuration(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${String(minutes)} min ${String(Math.round(seconds % 60))} s` : `${String(Math.floor(minutes / 60))} h ${String(minutes % 60)} min`;
}
