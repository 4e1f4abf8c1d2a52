import { parseArgs } from 'node:util';
import { DrcError, exitCodeFor, type ErrorData } from '../../../shared/errors.js';
import { redact, redactDeep } from '../../secrets/redact.js';
import { clusterCommands } from './cluster-commands.js';
import { demoCommands } from './demo-commands.js';
import type { CliIo, Command, Invocation, ProgressLine } from './command.js';
import { operationsCommands } from './operations-commands.js';
import { repositoryCommands } from './repository-commands.js';
import { retentionCommands } from './retention-commands.js';
import { serveCommands } from './serve-command.js';
import { verificationCommands } from './verification-commands.js';

/**
 * `drc`: the command line. Exit codes: 0 fine, 1 a problem was found or the operation
 * failed, 2 usage or configuration error. With --json, stdout carries exactly one JSON
 * document; progress and prompts go to stderr.
 */
const commands: Record<string, Command> = { ...repositoryCommands, ...clusterCommands, ...verificationCommands, ...retentionCommands, ...operationsCommands, ...demoCommands, ...serveCommands };

const globalOptions = {
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function helpText(): string {
  return [
    'drc — DR Console command line',
    '',
    ...Object.values(commands).flatMap((command) => [`  ${command.usage}`, `      ${command.summary}`]),
    '',
    'Every command takes --config FILE (default: the OS app-data directory) and --json.',
    'Exit codes: 0 fine, 1 a problem was found or the operation failed, 2 usage or configuration error.',
  ].join('\n');
}

/** The command is the leading words (`repo passphrase add`); options and arguments follow it. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const firstOption = argv.findIndex((word) => word.startsWith('-'));
  const leading = firstOption === -1 ? argv : argv.slice(0, firstOption);
  for (let length = Math.min(3, leading.length); length > 0; length--) {
    const command = commands[leading.slice(0, length).join(' ')];
    if (command) return { command, rest: argv.slice(length) };
  }
  return undefined;
}

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.stdout.write(`${helpText()}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    const found = findCommand(argv);
    if (!found) {
      throw new DrcError('USAGE', `unable to run 'drc ${argv.join(' ')}': unknown command`, { hints: ['run `drc --help` for the list of commands'] });
    }
    const parsed = parseCommandLine(found.rest, found.command);
    if (parsed.values.help === true) {
      io.stdout.write(`${found.command.usage}\n  ${found.command.summary}\n`);
      return 0;
    }
    const progress = progressLine(io, parsed.values.json === true);
    const result = await found.command.run({ args: parsed.positionals, values: parsed.values, io, progress });
    progress.finish();
    if (found.command.writesOwnOutput !== true) io.stdout.write(parsed.values.json === true ? `${JSON.stringify(redactDeep(result.json), null, 2)}\n` : `${redact(result.text)}\n`);
    return result.exitCode;
  } catch (error) {
    const data = errorData(error);
    if (wantsJson) io.stdout.write(`${JSON.stringify({ error: { code: data.code, message: data.message, hints: data.hints } }, null, 2)}\n`);
    else io.stderr.write(`error ${data.code}: ${data.message}\n${data.hints.map((hint) => `hint: ${hint}\n`).join('')}`);
    return exitCodeFor(error);
  }
}

function parseCommandLine(rest: string[], command: Command): { values: Invocation['values']; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...globalOptions, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new DrcError('USAGE', `unable to parse the command line: ${(error as Error).message}`, { hints: [`usage: ${command.usage}`] });
  }
  if (parsed.positionals.length !== command.positionals) {
    throw new DrcError('USAGE', `unable to run the command: expected ${String(command.positionals)} argument(s), got ${String(parsed.positionals.length)}`, { hints: [`usage: ${command.usage}`] });
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function errorData(error: unknown): ErrorData {
  if (error instanceof DrcError) return redactDeep(error.toData());
  return { code: 'INTERNAL', message: redact(error instanceof Error ? error.message : String(error)), hints: ['this is a bug in DR Console; please report it with the command you ran'], retryable: false };
}

/** Live progress on a terminal's stderr, at most a few times a second; silent otherwise. */
/** Redraws one line on a terminal's stderr, at most four times a second; silent otherwise. */
function progressLine(io: CliIo, json: boolean): ProgressLine {
  const live = io.stderr.isTTY === true && !json;
  let last = 0;
  let shown = false;
  return {
    show: (text) => {
      const now = Date.now();
      if (!live || now - last < 250) return;
      last = now;
      shown = true;
      io.stderr.write(`\r${text}\u001b[K`);
    },
    finish: () => {
      if (shown) io.stderr.write('\n');
    },
  };
}
