import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DrcError, exitCodeFor, type ErrorData } from '../../../shared/errors.js';
import { redact, redactDeep } from '../../secrets/redact.js';
import { clusterCommands } from './cluster-commands.js';
import { demoCommands } from './demo-commands.js';
import { exitCodes } from './exit-codes.js';
import { commandHelp, commandHelpDocument, nearestCommand, overviewHelp } from './help.js';
import type { CliIo, Command, Invocation, ProgressLine } from './command.js';
import { operationsCommands } from './operations-commands.js';
import { repositoryCommands } from './repository-commands.js';
import { retentionCommands } from './retention-commands.js';
import { serveCommands } from './serve-command.js';
import { verificationCommands } from './verification-commands.js';

/**
 * `drc`: the command line. Exit codes are in exit-codes.ts (and the README's table). With
 * --json, stdout carries exactly one JSON document, an error included; progress, notes
 * and prompts go to stderr.
 */
const commands: Record<string, Command> = { ...repositoryCommands, ...clusterCommands, ...verificationCommands, ...retentionCommands, ...operationsCommands, ...demoCommands, ...serveCommands };

/** Every command's name (`repo passphrase add`), for help and its tests. */
export function commandNames(): string[] {
  return Object.keys(commands);
}

interface GlobalOptions {
  config?: string;
  json: boolean;
  help: boolean;
  version: boolean;
}

/**
 * Takes the global options out of the line wherever they are (`drc --config F status` and
 * `drc status --config F` are the same); what remains is the command and its own options.
 * Words after `--` are arguments, never options (a restore point named `-x`).
 */
function takeGlobalOptions(argv: readonly string[]): { globals: GlobalOptions; rest: string[] } {
  const globals: GlobalOptions = { json: false, help: false, version: false };
  const rest: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index] ?? '';
    if (word === '--') {
      rest.push(...argv.slice(index));
      break;
    }
    if (word === '--json') globals.json = true;
    else if (word === '--help' || word === '-h') globals.help = true;
    else if (word === '--version' || word === '-V') globals.version = true;
    else if (word.startsWith('--config=')) globals.config = word.slice('--config='.length);
    else if (word === '--config') {
      const value = argv[index + 1];
      if (value === undefined || value.startsWith('-')) throw new DrcError('USAGE', 'unable to read --config: it needs a file', { hints: ['drc status --config /etc/drc/wedsync.json'] });
      globals.config = value;
      index += 1;
    } else rest.push(word);
  }
  return { globals, rest };
}

/** The command is the leading words (`repo passphrase add`); options and arguments follow it. */
function findCommand(argv: readonly string[]): { name: string; command: Command; rest: string[] } | undefined {
  const firstOption = argv.findIndex((word) => word.startsWith('-'));
  const leading = firstOption === -1 ? argv : argv.slice(0, firstOption);
  for (let length = Math.min(3, leading.length); length > 0; length--) {
    const name = leading.slice(0, length).join(' ');
    const command = commands[name];
    if (command) return { name, command, rest: argv.slice(length) };
  }
  return undefined;
}

function unknownCommand(words: readonly string[]): DrcError {
  const typed = words.filter((word) => !word.startsWith('-')).slice(0, 3).join(' ');
  const names = Object.keys(commands);
  const group = names.filter((name) => name.startsWith(`${words[0] ?? ''} `));
  const nearest = nearestCommand(typed, names);
  const hints = group.length > 0 ? [`'${words[0] ?? ''}' is followed by one of: ${group.map((name) => name.split(' ').slice(1).join(' ')).join(', ')}`] : nearest !== undefined ? [`did you mean \`drc ${nearest}\`?`] : [];
  return new DrcError('USAGE', `unable to run 'drc ${typed}': unknown command`, { hints: [...hints, 'run `drc help` for the list of commands, `drc help CMD` for one of them'] });
}

/** The package's version: dist/main/hosts/cli/ and src/main/hosts/cli/ are both four levels below it. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Known before parsing, so that even a malformed line gets its error as JSON.
  let json = argv.includes('--json');
  let stdoutUsed = false;
  const stdout = new Proxy(io.stdout, {
    get: (target, property) => {
      if (property === 'write') {
        return (...args: Parameters<NodeJS.WritableStream['write']>) => {
          stdoutUsed = true;
          return target.write(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const out = { ...io, stdout };
  const print = (document: unknown, text: string): void => {
    stdout.write(json ? `${JSON.stringify(redactDeep(document), null, 2)}\n` : `${redact(text)}\n`);
  };
  try {
    const { globals, rest } = takeGlobalOptions(argv);
    json = globals.json;
    if (globals.version) {
      print({ version: packageVersion() }, `drc ${packageVersion()}`);
      return exitCodes.ok.code;
    }
    const helpOnly = rest[0] === 'help';
    const words = helpOnly ? rest.slice(1) : rest;
    if (words.length === 0) {
      if (helpOnly || globals.help) {
        print({ commands: Object.fromEntries(Object.entries(commands).map(([name, command]) => [name, { usage: command.usage, summary: command.summary }])) }, overviewHelp(commands));
        return exitCodes.ok.code;
      }
      if (!json) io.stderr.write(`${overviewHelp(commands)}\n`);
      throw new DrcError('USAGE', 'unable to run drc: no command was given', { hints: ['run `drc help` for the list of commands'] });
    }
    const found = findCommand(words);
    if (!found) throw unknownCommand(words);
    if (helpOnly || globals.help) {
      print(commandHelpDocument(found.name, found.command), commandHelp(found.name, found.command));
      return exitCodes.ok.code;
    }
    const parsed = parseCommandLine(found.rest, found.command);
    const values = { ...parsed.values, ...(globals.config === undefined ? {} : { config: globals.config }), json: globals.json };
    const progress = progressLine(io, json);
    const result = await found.command.run({ args: parsed.positionals, values, io: out, progress });
    progress.finish();
    if (found.command.writesOwnOutput !== true) print(result.json, result.text);
    return result.exitCode;
  } catch (error) {
    const data = errorData(error);
    // A command that already wrote its document (serve printed its URL) reports a later failure on stderr.
    if (json && !stdoutUsed) stdout.write(`${JSON.stringify({ error: { code: data.code, message: data.message, hints: data.hints, retryable: data.retryable } }, null, 2)}\n`);
    else io.stderr.write(`error ${data.code}: ${data.message}\n${data.hints.map((hint) => `hint: ${hint}\n`).join('')}`);
    return exitCodeFor(error);
  }
}

function parseCommandLine(rest: string[], command: Command): { values: Invocation['values']; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new DrcError('USAGE', `unable to parse the command line: ${(error as Error).message}`, { hints: [`usage: ${command.usage}`, 'run `drc help CMD` for its options and an example'] });
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
