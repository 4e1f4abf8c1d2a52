import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSecretInput } from '../../src/main/secrets/prompt.js';
import { redact } from '../../src/main/secrets/redact.js';
import { isDrcError } from '../../src/shared/errors.js';
import type { ProbeOutcome, ProbeReport } from './keychain-probe.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const probeScript = fileURLToPath(new URL('./keychain-probe.ts', import.meta.url));
const requiredTools = ['dbus-run-session', 'dbus-send', 'gnome-keyring-daemon'];

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** Every regular file below `dir`; sockets and the like are skipped because they cannot be read. */
async function regularFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isDirectory()) files.push(...(await regularFiles(path)));
    else if (info.isFile()) files.push(path);
  }
  return files;
}

describe('Keychain against a real Secret Service (private gnome-keyring on a private D-Bus session)', () => {
  const account = 'repo-main';
  const secret = 'first-secret-3f9a1c';
  // Non-ASCII and shell metacharacters: the value must come back byte for byte.
  const secret2 = 'zweites Geheimnis äöü ✓ "$HOME" `x`';
  let home: string;
  let reports: Map<string, Record<string, ProbeOutcome>>;

  beforeAll(async () => {
    const missing = requiredTools.filter((tool) => !onPath(tool));
    if (missing.length > 0) {
      throw new Error(
        `missing ${missing.join(', ')}: the keychain tests need a real Secret Service. ` +
          'Install it with: apt-get install -y --no-install-recommends gnome-keyring dbus dbus-x11',
      );
    }
    home = await mkdtemp(join(tmpdir(), 'drc-keychain-home-'));
    // Phase one fills the keyring, then the keyring is locked over D-Bus (as a screen lock
    // would), then phase two reads from the locked keyring. gnome-keyring-daemon creates and
    // unlocks a login keyring in the throwaway HOME with the password on its stdin.
    const script = [
      'eval "$(printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets)"',
      '"$PROBE_NODE" --import tsx "$PROBE_SCRIPT" roundtrip',
      'dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets ' +
        'org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null',
      '"$PROBE_NODE" --import tsx "$PROBE_SCRIPT" locked',
    ].join(' && ');
    const { stdout } = await promisify(execFile)('dbus-run-session', ['--', 'bash', '-c', script], {
      cwd: projectRoot,
      timeout: 45_000,
      env: {
        PATH: process.env['PATH'],
        HOME: home,
        KEYRING_PASSWORD: 'throwaway-keyring-password',
        PROBE_NODE: process.execPath,
        PROBE_SCRIPT: probeScript,
        PROBE_SERVICE: 'dr-console-test',
        PROBE_ACCOUNT: account,
        PROBE_SECRET: secret,
        PROBE_SECRET_2: secret2,
      },
    });
    const lines = stdout.split('\n').filter((line) => line.startsWith('{'));
    reports = new Map(lines.map((line) => JSON.parse(line) as ProbeReport).map((report) => [report.phase, report.results]));
  });

  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  const roundtrip = (): Record<string, ProbeOutcome> => reports.get('roundtrip') ?? {};

  it('reports an absent entry as undefined, and deleting it as false', () => {
    expect(roundtrip()['getAbsent']).toEqual({ value: null });
    expect(roundtrip()['deleteAbsent']).toEqual({ value: false });
  });

  it('stores a secret and reads it back, directly and through a keychain: reference', () => {
    expect(roundtrip()['set']).toEqual({ value: null });
    expect(roundtrip()['get']).toEqual({ value: secret });
    expect(roundtrip()['resolve']).toEqual({ value: secret });
  });

  it('overwrites an entry and returns a non-ASCII secret unchanged', () => {
    expect(roundtrip()['overwrite']).toEqual({ value: null });
    expect(roundtrip()['getAfterOverwrite']).toEqual({ value: secret2 });
  });

  it('keeps entries of another service name apart', () => {
    expect(roundtrip()['otherService']).toEqual({ value: null });
  });

  it('deletes an entry exactly once', () => {
    expect(roundtrip()['delete']).toEqual({ value: true });
    expect(roundtrip()['getAfterDelete']).toEqual({ value: null });
    expect(roundtrip()['deleteAgain']).toEqual({ value: false });
  });

  it('fails to resolve a deleted entry with SECRET_UNRESOLVED and says how to store it', () => {
    const outcome = roundtrip()['resolveAfterDelete'];
    expect(outcome).toMatchObject({ error: { code: 'SECRET_UNRESOLVED' } });
    if (outcome === undefined || !('error' in outcome)) throw new Error('expected an error outcome');
    expect(outcome.error.message).toContain('passphrase of the probe');
    expect(outcome.error.message).toContain(`'${account}'`);
    expect(outcome.error.hints.join('\n')).toContain(`drc secret set ${account}`);
  });

  it('reports a locked keyring as KEYCHAIN_UNAVAILABLE, not as a missing entry', () => {
    const locked = reports.get('locked') ?? {};
    for (const name of ['getLocked', 'resolveLocked']) {
      const outcome = locked[name];
      expect(outcome, name).toMatchObject({ error: { code: 'KEYCHAIN_UNAVAILABLE' } });
      if (outcome === undefined || !('error' in outcome)) throw new Error('expected an error outcome');
      expect(outcome.error.message).toMatch(/^unable to reach the OS keychain: /);
      expect(outcome.error.hints.join('\n')).toMatch(/unlocked/);
      expect(outcome.error.hints.join('\n')).toContain('env:VARIABLE');
    }
  });

  it('leaves no plaintext copy of either secret in any file under HOME', async () => {
    const files = await regularFiles(home);
    // The keyring file itself must exist, or this check would pass vacuously.
    expect(files.some((file) => file.endsWith('.keyring'))).toBe(true);
    for (const file of files) {
      const content = await readFile(file);
      expect(content.includes(Buffer.from(secret)), file).toBe(false);
      expect(content.includes(Buffer.from(secret2)), file).toBe(false);
    }
  });
});

/** A PassThrough that claims to be a terminal, recording raw-mode switches. */
function fakeTerminal() {
  const rawModes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    isRaw: false,
    setRawMode(mode: boolean) {
      rawModes.push(mode);
      stdin.isRaw = mode;
    },
  });
  return { stdin, rawModes };
}

function captured(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function usageError(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isDrcError(error, 'USAGE'), String(error)).toBe(true);
  return (error as Error).message;
}

describe('readSecretInput from a pipe', () => {
  it('reads all of stdin, strips exactly one trailing newline and prompts nothing', async () => {
    const stdin = new PassThrough();
    const stderr = captured();
    stdin.end('piped-secret-81c4 with spaces\n\n');
    const secret = await readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: stderr.stream, confirm: true });
    expect(secret).toBe('piped-secret-81c4 with spaces\n');
    expect(stderr.text()).toBe('');
  });

  it('strips a Windows line ending and registers the secret for redaction', async () => {
    const stdin = new PassThrough();
    stdin.end('crlf-secret-77e0\r\n');
    const secret = await readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: new PassThrough() });
    expect(secret).toBe('crlf-secret-77e0');
    expect(redact('echoed crlf-secret-77e0 back')).toBe('echoed *** back');
  });

  it('refuses empty input, including a lone newline', async () => {
    for (const input of ['', '\n']) {
      const stdin = new PassThrough();
      stdin.end(input);
      const message = await usageError(readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: new PassThrough() }));
      expect(message).toContain('empty');
    }
  });
});

describe('readSecretInput from a terminal', () => {
  it('prompts on stderr, never echoes, and restores the terminal mode', async () => {
    const { stdin, rawModes } = fakeTerminal();
    const stderr = captured();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: stderr.stream });
    stdin.write('typed-secret-5b2d\r');
    expect(await reading).toBe('typed-secret-5b2d');
    expect(stderr.text()).toBe('Passphrase: \n');
    expect(rawModes).toEqual([true, false]);
  });

  it('applies backspace and ignores arrow keys', async () => {
    const { stdin } = fakeTerminal();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: new PassThrough() });
    stdin.write('abcx\u007fd\u001b[Def\u001bOAgh\r');
    expect(await reading).toBe('abcdefgh');
  });

  it('asks twice when confirming, also when both entries arrive in one chunk', async () => {
    const { stdin } = fakeTerminal();
    const stderr = captured();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: stderr.stream, confirm: true });
    stdin.write('same-secret\rsame-secret\r');
    expect(await reading).toBe('same-secret');
    expect(stderr.text()).toBe('Passphrase: \nRepeat passphrase: \n');
  });

  it('refuses two different entries', async () => {
    const { stdin } = fakeTerminal();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: new PassThrough(), confirm: true });
    stdin.write('first-entry\rsecond-entry\r');
    expect(await usageError(reading)).toContain('differ');
  });

  it('refuses an empty entry without asking for confirmation', async () => {
    const { stdin } = fakeTerminal();
    const stderr = captured();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: stderr.stream, confirm: true });
    stdin.write('\r');
    expect(await usageError(reading)).toContain('empty');
    expect(stderr.text()).toBe('Passphrase: \n');
  });

  it('treats Ctrl-C as cancel and restores the terminal mode', async () => {
    const { stdin, rawModes } = fakeTerminal();
    const reading = readSecretInput({ prompt: 'Passphrase: ', stdin, stderr: new PassThrough() });
    stdin.write('half\u0003');
    expect(await usageError(reading)).toContain('cancelled');
    expect(rawModes).toEqual([true, false]);
  });
});
