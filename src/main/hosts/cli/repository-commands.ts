import type { RepositoryInfo, RepositoryProgress, SyncReport, VerifyReport } from '../../../shared/contract/repository.js';
import { DrcError } from '../../../shared/errors.js';
import type { Compression } from '../../repo/envelope.js';
import { defaultScrypt, type ScryptParameters } from '../../repo/keys.js';
import { Keychain } from '../../secrets/keychain.js';
import { readSecretInput } from '../../secrets/prompt.js';
import { addRepositoryPassphrase, describeRepositories, initRepositories, removeRepositoryPassphrase, sync, verify } from '../../services/repository.js';
import { contextFor, formatBytes, optional, repoOption, required, type Command } from './command.js';

/** Repository management and secrets: `repo …`, `verify`, `sync`, `secret …`. */
const kdfCostOption = { 'kdf-cost': { type: 'string' } } as const;
const compressions: readonly Compression[] = ['zstd', 'lz4', 'none'];

export const repositoryCommands: Record<string, Command> = {
  'repo init': {
    usage: 'drc repo init [--repo NAME] [--kdf-cost 17] [--compression zstd|lz4|none]',
    summary: 'create the repository on every configured target (or the one named)',
    options: { ...repoOption, ...kdfCostOption, compression: { type: 'string' } },
    positionals: 0,
    run: async ({ values }) => {
      const context = await contextFor(values);
      const chosen = compression(values.compression);
      const result = await initRepositories(context, { ...optional('repository', values.repo), scrypt: kdfCost(values['kdf-cost']), ...(chosen ? { compression: chosen } : {}) });
      const lines = [
        ...result.created.map((name) => `created repository '${name}'`),
        ...result.alreadyInitialized.map((name) => `repository '${name}' already exists (kept as is)`),
        ...result.repaired.map((name) => `repository '${name}': its damaged header was rewritten from a good copy (run \`drc verify --repo ${name}\`)`),
        ...result.unreachable.map((entry) => `NOT created on '${entry.target.name}': ${entry.error.message}`),
        `repository id ${result.repositoryId}`,
      ];
      const failed = result.unreachable.length > 0;
      return {
        json: { repositoryId: result.repositoryId, created: result.created, alreadyInitialized: result.alreadyInitialized, repaired: result.repaired, unreachable: result.unreachable.map((entry) => ({ repository: entry.target.name, error: entry.error })) },
        text: lines.join('\n'),
        exitCode: failed ? 1 : 0,
      };
    },
  },
  'repo info': {
    usage: 'drc repo info [--repo NAME]',
    summary: 'format, ids, key slots, object counts and bytes of each repository',
    options: repoOption,
    positionals: 0,
    run: async ({ values }) => {
      const infos = await describeRepositories(await contextFor(values), optional('repository', values.repo));
      return { json: { repositories: infos }, text: infos.map(formatInfo).join('\n\n'), exitCode: infos.some((info) => info.error) ? 1 : 0 };
    },
  },
  'repo passphrase add': {
    usage: 'drc repo passphrase add [--label TEXT] [--kdf-cost 17]   (new passphrase read from the terminal or stdin)',
    summary: 'add a key slot for another passphrase',
    options: { label: { type: 'string' }, ...kdfCostOption },
    positionals: 0,
    run: async ({ values, io }) => {
      const context = await contextFor(values);
      const newPassphrase = await readSecretInput({ prompt: 'New passphrase: ', stdin: io.stdin, stderr: io.stderr, confirm: true });
      const label = typeof values.label === 'string' ? values.label : `added ${new Date().toISOString()}`;
      const result = await addRepositoryPassphrase(context, { newPassphrase, label, scrypt: kdfCost(values['kdf-cost']) });
      return {
        json: result,
        text: [`added key slot ${result.slotId} ('${label}') to ${result.updated.join(', ')}`, ...result.failed.map((entry) => `NOT updated: '${entry.repository}': ${entry.message}`)].join('\n'),
        exitCode: result.failed.length > 0 ? 1 : 0,
      };
    },
  },
  'repo passphrase remove': {
    usage: 'drc repo passphrase remove --slot ID',
    summary: 'remove a key slot (never the last one)',
    options: { slot: { type: 'string' } },
    positionals: 0,
    run: async ({ values }) => {
      const slotId = required(values.slot, '--slot', 'drc repo passphrase remove --slot ID (ids are listed by `drc repo info`)');
      const result = await removeRepositoryPassphrase(await contextFor(values), { slotId });
      return {
        json: result,
        text: [`removed key slot ${slotId} from ${result.updated.join(', ')}`, ...result.failed.map((entry) => `NOT updated: '${entry.repository}': ${entry.message}`)].join('\n'),
        exitCode: result.failed.length > 0 ? 1 : 0,
      };
    },
  },
  verify: {
    usage: 'drc verify [--repo NAME] [--repair]',
    summary: 'read and authenticate every object; report missing and corrupt objects; --repair copies good ones from another repository',
    options: { ...repoOption, repair: { type: 'boolean', default: false } },
    positionals: 0,
    run: async ({ values, progress }) => {
      const report = await verify(await contextFor(values), { ...optional('repository', values.repo), repair: values.repair === true, onProgress: (value) => progress.show(describeRepositoryProgress(value)) });
      return { json: report, text: formatVerify(report), exitCode: report.ok ? 0 : 1 };
    },
  },
  sync: {
    usage: 'drc sync --from NAME --to NAME',
    summary: 'copy into one repository what it lacks from another (fill a USB stick from the NAS)',
    options: { from: { type: 'string' }, to: { type: 'string' } },
    positionals: 0,
    run: async ({ values, io, progress }) => {
      const from = required(values.from, '--from', 'drc sync --from NAS --to USB');
      const to = required(values.to, '--to', 'drc sync --from NAS --to USB');
      const report = await sync(await contextFor(values), { from, to, onProgress: (value) => progress.show(describeRepositoryProgress(value)), ...(io.signal ? { signal: io.signal } : {}) });
      return { json: report, text: formatSync(report), exitCode: report.skippedCorrupt.length > 0 ? 1 : 0 };
    },
  },
  'secret set': {
    usage: 'drc secret set ACCOUNT   (secret read from the terminal or stdin)',
    summary: 'store a secret in the OS keychain, for `keychain:ACCOUNT` references',
    options: {},
    positionals: 1,
    run: async ({ args, io }) => {
      const account = args[0] ?? '';
      const secret = await readSecretInput({ prompt: `Secret for '${account}': `, stdin: io.stdin, stderr: io.stderr, confirm: true });
      await (io.keychain ?? new Keychain()).set(account, secret);
      return { json: { account, stored: true }, text: `stored secret '${account}' in the OS keychain (refer to it as keychain:${account})`, exitCode: 0 };
    },
  },
  'secret delete': {
    usage: 'drc secret delete ACCOUNT',
    summary: 'remove a secret from the OS keychain',
    options: {},
    positionals: 1,
    run: async ({ args, io }) => {
      const account = args[0] ?? '';
      const removed = await (io.keychain ?? new Keychain()).delete(account);
      return { json: { account, removed }, text: removed ? `removed secret '${account}'` : `no secret '${account}' was stored`, exitCode: removed ? 0 : 1 };
    },
  },
};

/** zstd (the default) stores about half of what lz4 does on table pages; lz4 costs less CPU per byte. */
function compression(value: string | boolean | undefined): Compression | undefined {
  if (value === undefined) return undefined;
  const chosen = compressions.find((name) => name === value);
  if (chosen === undefined) {
    throw new DrcError('USAGE', `unable to use --compression '${String(value)}': it must be one of ${compressions.join(', ')}`, {
      hints: ['zstd (the default) stores the least; lz4 uses less CPU per byte; the choice applies to new repositories and is kept in their header'],
    });
  }
  return chosen;
}

function kdfCost(value: string | boolean | undefined): ScryptParameters {
  if (value === undefined) return defaultScrypt;
  const cost = Number(value);
  if (!Number.isInteger(cost) || cost < 10 || cost > 22) {
    throw new DrcError('USAGE', `unable to use --kdf-cost '${String(value)}': it must be an integer from 10 to 22`, {
      hints: ['the scrypt cost is 2^N; the default 17 takes about 0.3 s and 128 MiB; lower values are faster to unlock and weaker against guessing'],
    });
  }
  return { ...defaultScrypt, N: 2 ** cost };
}


function describeRepositoryProgress(progress: RepositoryProgress): string {
  return `${progress.operation} ${progress.repository}: ${String(progress.done)}/${String(progress.total)} objects, ${formatBytes(progress.bytes)}`;
}

function formatInfo(info: RepositoryInfo): string {
  const lines = [`${info.repository}  (${info.type}, ${info.media}${info.offsite ? ', offsite' : ''})  ${info.location}`];
  if (info.error) {
    lines.push(`  error ${info.error.code}: ${info.error.message}`, ...info.error.hints.map((hint) => `  hint: ${hint}`));
  } else if (!info.initialized) {
    lines.push('  not initialized (run `drc repo init`)');
  } else {
    lines.push(`  format ${String(info.formatVersion)}, repository id ${info.repositoryId ?? ''}, created ${info.createdAt ?? ''}`);
    lines.push(`  key slots: ${info.keySlots.map((slot) => `${slot.id} '${slot.label}'`).join(', ')}`);
    for (const [kind, figures] of Object.entries(info.objects)) lines.push(`  ${kind.padEnd(8)} ${String(figures.count).padStart(8)} objects ${formatBytes(figures.bytes).padStart(10)}`);
  }
  return lines.join('\n');
}

function formatVerify(report: VerifyReport): string {
  const lines: string[] = [];
  for (const result of report.repositories) {
    if (result.error) {
      lines.push(`${result.repository}: NOT VERIFIED — ${result.error.code}: ${result.error.message}`, ...result.error.hints.map((hint) => `  hint: ${hint}`));
      continue;
    }
    const status = result.problems.length === 0 ? 'ok' : `${String(result.problems.length)} problem(s)`;
    lines.push(`${result.repository}: ${status} — ${String(result.objectsChecked)} objects, ${formatBytes(result.bytesChecked)} authenticated`);
    for (const problem of result.problems) {
      const repair = problem.repaired ? ` — repaired from '${problem.repairedFrom ?? ''}'` : '';
      lines.push(`  ${problem.problem.toUpperCase()} ${problem.object}: ${problem.detail}${repair}`);
    }
  }
  if (!report.ok && !report.repaired) lines.push('hint: run `drc verify --repair` to rewrite bad or missing objects from a good copy in another repository');
  return lines.join('\n');
}

function formatSync(report: SyncReport): string {
  return [
    `copied ${String(report.objectsCopied)} object(s), ${formatBytes(report.bytesCopied)}, from '${report.from}' to '${report.to}'; ${String(report.objectsAlreadyPresent)} already there`,
    ...report.skippedCorrupt.map((name) => `  SKIPPED ${name}: corrupt or incomplete at the source (run \`drc verify --repair\`)`),
  ].join('\n');
}

