import { AsyncEntry, type EntryOptions } from '@napi-rs/keyring';
import { DrcError } from '../../shared/errors.js';
import { registerSecret } from './redact.js';

export const defaultKeychainService = 'dr-console';

/**
 * Without this option the Linux binding silently falls back to the kernel keyutils keyring
 * when no Secret Service answers. That store lives in kernel memory and is gone after a
 * reboot, so a passphrase "saved" there would vanish exactly when a restore needs it.
 * Pinning the Secret Service turns its absence into an error. macOS and Windows ignore it.
 */
const entryOptions: EntryOptions = { linux: { store: 'secret-service' } };

/**
 * keyring-rs reports every failure with the napi code `GenericFailure`; only the message
 * prefix tells the variants apart. `PlatformFailure` covers "no D-Bus session" and "no
 * Secret Service on the bus"; `NoStorageAccess` covers a locked keyring whose unlock prompt
 * could not be shown, and a Secret Service without a default keyring.
 */
const unavailablePrefixes = ['Platform failure:', "Couldn't access platform storage:"];

export interface KeychainOptions {
  /** Service name the entries are filed under; tests pass their own to stay isolated. */
  service?: string;
}

/**
 * The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
 * Windows). Uses the async binding so a slow D-Bus round trip, or a keyring waiting for its
 * unlock prompt, does not stall the event loop.
 */
export class Keychain {
  readonly service: string;

  constructor(options: KeychainOptions = {}) {
    this.service = options.service ?? defaultKeychainService;
  }

  /** The secret stored under `account`, or undefined when there is no such entry. */
  async get(account: string): Promise<string | undefined> {
    const secret = await this.withEntry(account, (entry) => entry.getPassword());
    if (secret === null) return undefined;
    registerSecret(secret);
    return secret;
  }

  /** Stores `secret` under `account`, replacing any previous value. */
  async set(account: string, secret: string): Promise<void> {
    registerSecret(secret);
    await this.withEntry(account, (entry) => entry.setPassword(secret));
  }

  /** Removes the entry; true if one existed. */
  async delete(account: string): Promise<boolean> {
    return this.withEntry(account, (entry) => entry.deleteCredential());
  }

  private async withEntry<T>(account: string, operation: (entry: AsyncEntry) => Promise<T>): Promise<T> {
    try {
      // With a pinned store the constructor already connects to it and throws when it
      // cannot, so it has to sit inside the try as well.
      return await operation(new AsyncEntry(this.service, account, entryOptions));
    } catch (error) {
      throw translateKeyringError(error, account, this.service);
    }
  }
}

function translateKeyringError(error: unknown, account: string, service: string): DrcError {
  const detail = error instanceof Error ? error.message : String(error);
  if (unavailablePrefixes.some((prefix) => detail.startsWith(prefix))) {
    return new DrcError('KEYCHAIN_UNAVAILABLE', `unable to reach the OS keychain: ${detail}`, {
      hints: unavailableHints(),
      cause: error,
    });
  }
  // The remaining variants (e.g. two entries matching one account, written by another
  // program) mean the keychain answered but holds something this code did not expect.
  return new DrcError('INTERNAL', `unable to use the OS keychain entry '${account}' of service '${service}': ${detail}`, {
    hints: [`inspect the entries of service '${service}' with the keychain's own tool (seahorse, Keychain Access, Credential Manager)`],
    cause: error,
  });
}

function unavailableHints(): string[] {
  const hints: string[] = [];
  switch (process.platform) {
    case 'linux':
      hints.push('a Secret Service such as gnome-keyring or KWallet must be running on the D-Bus session bus, with its default keyring unlocked');
      if (process.env['DBUS_SESSION_BUS_ADDRESS'] === undefined) {
        hints.push('DBUS_SESSION_BUS_ADDRESS is not set: this process has no D-Bus session (typical for SSH logins, cron jobs and system services)');
      }
      break;
    case 'darwin':
      hints.push("the user's login keychain must be unlocked (Keychain Access, or 'security unlock-keychain')");
      break;
    case 'win32':
      hints.push('Windows Credential Manager must be reachable from this user session');
      break;
  }
  hints.push("for headless use (servers, CI), reference the secret as 'env:VARIABLE' in the configuration and set that environment variable");
  return hints;
}
