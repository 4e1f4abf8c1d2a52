/**
 * Runs Keychain and SecretResolver against whatever OS keychain this process can reach and
 * prints one JSON line with the outcome of every step. The tests start it in a child process
 * because the keychain is chosen by the process environment (D-Bus session, HOME): a private
 * gnome-keyring in keychain.test.ts, no D-Bus at all in references.test.ts.
 *
 *   node --import tsx test/secrets/keychain-probe.ts roundtrip|locked
 *
 * Environment: PROBE_SERVICE, PROBE_ACCOUNT, PROBE_SECRET, PROBE_SECRET_2.
 */
import { isDrcError } from '../../src/shared/errors.js';
import { Keychain } from '../../src/main/secrets/keychain.js';
import { SecretResolver } from '../../src/main/secrets/references.js';

export type ProbeOutcome = { value: unknown } | { error: { code: string; message: string; hints: string[] } };
export interface ProbeReport {
  phase: string;
  results: Record<string, ProbeOutcome>;
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`keychain-probe: ${name} is not set`);
  return value;
}

const phase = process.argv[2] ?? '';
const service = required('PROBE_SERVICE');
const account = required('PROBE_ACCOUNT');
const keychain = new Keychain({ service });
const resolver = new SecretResolver({ env: {}, keychain });
const results: Record<string, ProbeOutcome> = {};

async function step(name: string, action: () => Promise<unknown>): Promise<void> {
  try {
    results[name] = { value: (await action()) ?? null };
  } catch (error) {
    if (!isDrcError(error)) throw error;
    results[name] = { error: { code: error.code, message: error.message, hints: error.hints } };
  }
}

const reference = `keychain:${account}`;
if (phase === 'roundtrip') {
  const secret = required('PROBE_SECRET');
  const secret2 = required('PROBE_SECRET_2');
  await step('getAbsent', () => keychain.get(account));
  await step('deleteAbsent', () => keychain.delete(account));
  await step('set', () => keychain.set(account, secret));
  await step('get', () => keychain.get(account));
  await step('resolve', () => resolver.resolve(reference, 'passphrase of the probe'));
  await step('overwrite', () => keychain.set(account, secret2));
  await step('getAfterOverwrite', () => keychain.get(account));
  await step('otherService', () => new Keychain({ service: `${service}-other` }).get(account));
  await step('delete', () => keychain.delete(account));
  await step('getAfterDelete', () => keychain.get(account));
  await step('deleteAgain', () => keychain.delete(account));
  await step('resolveAfterDelete', () => resolver.resolve(reference, 'passphrase of the probe'));
  // Left in place for the 'locked' phase, which runs after the keyring has been locked.
  await step('keep', () => keychain.set(account, secret));
} else if (phase === 'locked') {
  await step('getLocked', () => keychain.get(account));
  await step('resolveLocked', () => resolver.resolve(reference, 'passphrase of the probe'));
} else {
  throw new Error(`keychain-probe: unknown phase '${phase}'`);
}
process.stdout.write(`${JSON.stringify({ phase, results } satisfies ProbeReport)}\n`);
