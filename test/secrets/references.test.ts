import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { isSecretReference, parseSecretReference, SecretResolver } from '../../src/main/secrets/references.js';
import { redact } from '../../src/main/secrets/redact.js';
import { DrcError, isDrcError, type ErrorCode } from '../../src/shared/errors.js';
import type { ProbeReport } from './keychain-probe.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const probeScript = fileURLToPath(new URL('./keychain-probe.ts', import.meta.url));

function thrown(action: () => unknown): DrcError {
  try {
    action();
  } catch (error) {
    if (error instanceof DrcError) return error;
    throw error;
  }
  throw new Error('expected a DrcError, nothing was thrown');
}

async function rejected(promise: Promise<unknown>, code: ErrorCode): Promise<DrcError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isDrcError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
  return error;
}

/** Stands in for the OS keychain; the real one is exercised in keychain.test.ts. */
function memoryKeychain(entries: Record<string, string>) {
  return { service: 'dr-console-test', get: (account: string) => Promise.resolve(entries[account]) };
}

describe('parseSecretReference', () => {
  it('parses env:VAR and keychain:ACCOUNT', () => {
    expect(parseSecretReference('env:DRC_PASSPHRASE')).toEqual({ kind: 'env', variable: 'DRC_PASSPHRASE' });
    expect(parseSecretReference('env:_x1')).toEqual({ kind: 'env', variable: '_x1' });
    expect(parseSecretReference('keychain:repo-main')).toEqual({ kind: 'keychain', account: 'repo-main' });
    expect(parseSecretReference('keychain:dba@prod/s3.eu+1_x')).toEqual({ kind: 'keychain', account: 'dba@prod/s3.eu+1_x' });
  });

  it('refuses a literal secret without echoing it, and masks it in later output', () => {
    const literal = 'Tr0ub4dor&3-literal';
    const error = thrown(() => parseSecretReference(literal));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).not.toContain(literal);
    expect(error.hints.join('\n')).not.toContain(literal);
    expect(error.message).toContain("'env:VARIABLE'");
    expect(error.message).toContain("'keychain:ACCOUNT'");
    expect(redact(`config dump: passphrase=${literal}`)).toBe('config dump: passphrase=***');
  });

  it('refuses malformed references without echoing them', () => {
    const cases: Array<[string, string]> = [
      ['env:', "after 'env:'"],
      ['env:1ABC', "after 'env:'"],
      ['env:MY VAR', "after 'env:'"],
      ['keychain:', "after 'keychain:'"],
      ['keychain:has space', "after 'keychain:'"],
      ['keychain:-leading-dash', "after 'keychain:'"],
      [`keychain:${'a'.repeat(201)}`, "after 'keychain:'"],
      ['ENV:UPPER_PREFIX', 'secrets must be given as a reference'],
      [' env:LEADING_SPACE', 'secrets must be given as a reference'],
      ['', 'secrets must be given as a reference'],
    ];
    for (const [text, expected] of cases) {
      const error = thrown(() => parseSecretReference(text));
      expect(error.code, text).toBe('CONFIG_INVALID');
      expect(error.message, text).toContain(expected);
      expect(error.hints.join('\n'), text).toContain('env:VARIABLE');
      expect(error.hints.join('\n'), text).toContain('keychain:ACCOUNT');
      const tail = text.replace(/^(env|keychain):/, '');
      if (tail !== '') expect(error.message, text).not.toContain(tail);
    }
  });

  it('isSecretReference agrees with the parser', () => {
    expect(isSecretReference('env:PGPASSWORD')).toBe(true);
    expect(isSecretReference('keychain:repo-main')).toBe(true);
    expect(isSecretReference('hunter2-not-a-reference')).toBe(false);
    expect(isSecretReference('env:not valid')).toBe(false);
  });
});

describe('SecretResolver', () => {
  it('resolves an env: reference and registers the value for redaction', async () => {
    const value = 'env-secret-9d3e71';
    expect(redact(`token ${value}`)).toBe(`token ${value}`);
    const resolver = new SecretResolver({ env: { DRC_TEST_SECRET: value }, keychain: memoryKeychain({}) });
    expect(await resolver.resolve('env:DRC_TEST_SECRET', 'passphrase of the repositories')).toBe(value);
    expect(redact(`token ${value}`)).toBe('token ***');
  });

  it('accepts an already parsed reference', async () => {
    const resolver = new SecretResolver({ env: { PARSED_REF: 'parsed-ref-secret' }, keychain: memoryKeychain({}) });
    expect(await resolver.resolve({ kind: 'env', variable: 'PARSED_REF' }, 'test secret')).toBe('parsed-ref-secret');
  });

  it('reads process.env by default', async () => {
    process.env['DRC_SECRETS_TEST_DEFAULT_ENV'] = 'from-process-env-4411';
    try {
      const resolver = new SecretResolver({ keychain: memoryKeychain({}) });
      expect(await resolver.resolve('env:DRC_SECRETS_TEST_DEFAULT_ENV', 'test secret')).toBe('from-process-env-4411');
    } finally {
      delete process.env['DRC_SECRETS_TEST_DEFAULT_ENV'];
    }
  });

  it('reports a missing or empty environment variable as SECRET_UNRESOLVED with an export hint', async () => {
    const resolver = new SecretResolver({ env: { EMPTY_VAR: '' }, keychain: memoryKeychain({}) });
    const missing = await rejected(resolver.resolve('env:DRC_MISSING', 'passphrase of the repositories'), 'SECRET_UNRESOLVED');
    expect(missing.message).toBe("unable to resolve the passphrase of the repositories: environment variable 'DRC_MISSING' is not set");
    expect(missing.hints[0]).toMatch(/^export DRC_MISSING=/);
    expect(missing.kind).toBe('config');
    const empty = await rejected(resolver.resolve('env:EMPTY_VAR', 'passphrase of the repositories'), 'SECRET_UNRESOLVED');
    expect(empty.message).toContain("'EMPTY_VAR' is empty");
  });

  it('resolves a keychain: reference and registers the value for redaction', async () => {
    const value = 'keychain-secret-c0ffee';
    const resolver = new SecretResolver({ env: {}, keychain: memoryKeychain({ 'repo-main': value }) });
    expect(await resolver.resolve('keychain:repo-main', 'passphrase of the repositories')).toBe(value);
    expect(redact(`leaked ${value}`)).toBe('leaked ***');
  });

  it('reports a missing keychain entry as SECRET_UNRESOLVED with a drc secret set hint', async () => {
    const resolver = new SecretResolver({ env: {}, keychain: memoryKeychain({ other: 'x' }) });
    const error = await rejected(resolver.resolve('keychain:repo-main', 'passphrase of the repositories'), 'SECRET_UNRESOLVED');
    expect(error.message).toBe(
      "unable to resolve the passphrase of the repositories: the OS keychain has no entry 'repo-main' (service 'dr-console-test')",
    );
    expect(error.hints).toContain("store it with 'drc secret set repo-main'");
  });

  it('refuses a literal secret before looking anything up', async () => {
    const resolver = new SecretResolver({ env: {}, keychain: memoryKeychain({}) });
    await rejected(resolver.resolve('literal-passphrase', 'passphrase of the repositories'), 'CONFIG_INVALID');
  });
});

describe('Keychain without any reachable Secret Service', () => {
  const directories: string[] = [];
  afterEach(async () => {
    await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  // Unset: libdbus would try X11 autolaunch (compiled out) and XDG_RUNTIME_DIR/bus (empty here).
  // Pointing nowhere: a configured but dead session bus.
  const busSettings: Array<[string, string | undefined]> = [
    ['DBUS_SESSION_BUS_ADDRESS unset', undefined],
    ['DBUS_SESSION_BUS_ADDRESS pointing nowhere', 'unix:path=/nonexistent/drc-test/bus'],
  ];
  for (const [label, busAddress] of busSettings) {
    it(`fails every operation with KEYCHAIN_UNAVAILABLE and writes nothing (${label})`, async () => {
      const home = await mkdtemp(join(tmpdir(), 'drc-nokeychain-home-'));
      const runtime = await mkdtemp(join(tmpdir(), 'drc-nokeychain-run-'));
      directories.push(home, runtime);
      const env: Record<string, string | undefined> = {
        PATH: process.env['PATH'],
        HOME: home,
        XDG_RUNTIME_DIR: runtime,
        PROBE_SERVICE: 'dr-console-test',
        PROBE_ACCOUNT: 'repo-main',
        PROBE_SECRET: 'would-be-secret-1',
        PROBE_SECRET_2: 'would-be-secret-2',
      };
      if (busAddress !== undefined) env['DBUS_SESSION_BUS_ADDRESS'] = busAddress;
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', probeScript, 'roundtrip'], {
        cwd: projectRoot,
        env,
        timeout: 30_000,
      });
      const report = JSON.parse(stdout) as ProbeReport;
      const outcomes = Object.entries(report.results);
      expect(outcomes.length).toBeGreaterThan(10);
      for (const [step, outcome] of outcomes) {
        expect(outcome, step).toMatchObject({ error: { code: 'KEYCHAIN_UNAVAILABLE' } });
        if (!('error' in outcome)) continue;
        expect(outcome.error.message, step).toMatch(/^unable to reach the OS keychain: Platform failure: DBus error: /);
        const hints = outcome.error.hints.join('\n');
        expect(hints, step).toContain('Secret Service');
        expect(hints, step).toContain('env:VARIABLE');
        expect(hints.includes('DBUS_SESSION_BUS_ADDRESS is not set'), step).toBe(busAddress === undefined);
      }
      // No fallback store: nothing may appear under HOME or the runtime directory.
      expect(await readdir(home)).toEqual([]);
      expect(await readdir(runtime)).toEqual([]);
    });
  }
});
