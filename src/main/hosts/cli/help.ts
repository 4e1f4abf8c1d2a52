import type { Command } from './command.js';
import { exitCodes } from './exit-codes.js';

/**
 * One worked example per command, shown by `drc help CMD` and `drc CMD --help`. Kept
 * here rather than beside each command so that every command's help reads the same; a
 * test checks that no command is left without one.
 */
export const commandExamples: Readonly<Record<string, string>> = {
  'repo init': 'drc repo init --config /etc/drc/wedsync.json',
  'repo info': 'drc repo info --repo usb',
  'repo passphrase add': 'drc repo passphrase add --label "break-glass envelope 2026"',
  'repo passphrase remove': 'drc repo passphrase remove --slot 2   (ids are listed by `drc repo info`)',
  verify: 'drc verify --repo usb --repair',
  sync: 'drc sync --from nas --to usb',
  'secret set': 'drc secret set gcs-wedsync < service-account.json',
  'secret delete': 'drc secret delete gcs-wedsync',
  backup: 'drc backup --type full --reason "before the 17.2 upgrade"',
  'wal stream': 'drc wal stream --slot drc_wedsync',
  'wal status': 'drc wal status --json',
  'wal push': "archive_command = 'drc wal push %p --config /etc/drc/wedsync.json'",
  'wal get': "restore_command = 'drc wal get %f %p --config /etc/drc/wedsync.json'",
  'restore-point': 'drc restore-point before_invoice_run',
  restore: "drc restore --target-dir /srv/restore --time '2026-06-14 09:30:00+02:00'",
  list: 'drc list --json',
  'restore-test': 'drc restore-test --latest --scratch-dir /srv/scratch',
  expire: 'drc expire --dry-run',
  daemon: 'drc daemon --config /etc/drc/wedsync.json',
  status: 'drc status',
  events: 'drc events --since 7d --type restore',
  demo: 'drc demo --major 17 --serve --open',
  serve: 'drc serve --port 8645 --open',
};

/** The options every command takes, wherever they appear on the line. */
export const globalOptionLines = [
  '--config FILE   the config file (default: the OS app-data directory); relative paths in it are read from its directory',
  '--json          one JSON document on stdout, errors included; progress and notes go to stderr',
  '-h, --help      this command\'s usage; `drc help CMD` does the same',
  '-V, --version   the version of drc',
];

function optionLines(command: Command): string[] {
  return Object.entries(command.options ?? {}).map(([name, option]) => {
    const short = option.short === undefined ? '' : `-${option.short}, `;
    return `${short}--${name}${option.type === 'string' ? ' VALUE' : ''}`;
  });
}

/** `drc help CMD`: usage, what it does, its options, the global ones and an example. */
export function commandHelp(name: string, command: Command): string {
  const options = optionLines(command);
  const example = commandExamples[name];
  return [
    `usage: ${command.usage}`,
    '',
    `  ${command.summary}`,
    '',
    'options:',
    ...(options.length === 0 ? ['  (none of its own)'] : options.map((line) => `  ${line}`)),
    '',
    'global options:',
    ...globalOptionLines.map((line) => `  ${line}`),
    ...(example === undefined ? [] : ['', 'example:', `  ${example}`]),
  ].join('\n');
}

/** The same as data, for `drc help CMD --json`. */
export function commandHelpDocument(name: string, command: Command): Record<string, unknown> {
  return { command: name, usage: command.usage, summary: command.summary, options: optionLines(command), globalOptions: globalOptionLines, example: commandExamples[name] ?? null };
}

/** `drc help`: every command and the exit codes. */
export function overviewHelp(commands: Readonly<Record<string, Command>>): string {
  return [
    'drc — DR Console command line',
    '',
    ...Object.values(commands).flatMap((command) => [`  ${command.usage}`, `      ${command.summary}`]),
    '',
    'global options (anywhere on the line):',
    ...globalOptionLines.map((line) => `  ${line}`),
    '',
    '`drc help CMD` (or `drc CMD --help`) shows one command with an example.',
    'exit codes:',
    ...Object.values(exitCodes).map((entry) => `  ${String(entry.code).padEnd(4)} ${entry.meaning}`),
  ].join('\n');
}

/** The nearest command name to a mistyped one, by edit distance, when it is close enough to be meant. */
export function nearestCommand(typed: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
