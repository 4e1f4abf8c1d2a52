import { DrcError } from '../../shared/errors.js';
import { Keychain } from './keychain.js';
import { registerSecret } from './redact.js';

/**
 * Configuration files never hold a secret, only where to find it: an environment variable
 * (headless hosts, CI) or an entry in the OS keychain. Secrets are looked up at the moment
 * they are used and never written back.
 */
export type SecretReference = { kind: 'env'; variable: string } | { kind: 'keychain'; account: string };

const envPrefix = 'env:';
const keychainPrefix = 'keychain:';
const envVariablePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Accounts are typed on the command line (`drc secret set ACCOUNT`), so no characters that need quoting. */
const keychainAccountPattern = /^[A-Za-z0-9][A-Za-z0-9._@/+-]{0,199}$/;

const acceptedFormsHints = [
  "write 'env:VARIABLE' to read the secret from an environment variable (headless hosts, CI)",
  "write 'keychain:ACCOUNT' to read it from the OS keychain, after storing it with 'drc secret set ACCOUNT'",
];

type Parsed = { reference: SecretReference } | { refusal: DrcError };

/** Never puts `text` into a message: a malformed reference may well be a pasted secret. */
function parse(text: string): Parsed {
  if (text.startsWith(envPrefix)) {
    const variable = text.slice(envPrefix.length);
    if (envVariablePattern.test(variable)) return { reference: { kind: 'env', variable } };
    return {
      refusal: new DrcError(
        'CONFIG_INVALID',
        "unable to parse the secret reference: the name after 'env:' must consist of letters, digits and underscores and not start with a digit",
        { hints: acceptedFormsHints },
      ),
    };
  }
  if (text.startsWith(keychainPrefix)) {
    const account = text.slice(keychainPrefix.length);
    if (keychainAccountPattern.test(account)) return { reference: { kind: 'keychain', account } };
    return {
      refusal: new DrcError(
        'CONFIG_INVALID',
        "unable to parse the secret reference: the account after 'keychain:' must be 1 to 200 letters, digits or . _ @ / + - and start with a letter or digit",
        { hints: acceptedFormsHints },
      ),
    };
  }
  return {
    refusal: new DrcError(
      'CONFIG_INVALID',
      "unable to accept a secret written into the configuration: secrets must be given as a reference, 'env:VARIABLE' or 'keychain:ACCOUNT'",
      { hints: [...acceptedFormsHints, 'remove the secret from the configuration file and its backups, and consider it exposed'] },
    ),
  };
}

/** Throws `CONFIG_INVALID` for anything that is not `env:VARIABLE` or `keychain:ACCOUNT`. */
export function parseSecretReference(text: string): SecretReference {
  const parsed = parse(text);
  if ('reference' in parsed) return parsed.reference;
  // The refused text is most likely a real secret sitting in a config file; masking it keeps
  // it out of any output that might still echo the configuration.
  registerSecret(text);
  throw parsed.refusal;
}

export function isSecretReference(text: string): boolean {
  return 'reference' in parse(text);
}

export interface SecretResolverOptions {
  env?: Readonly<Record<string, string | undefined>>;
  keychain?: Pick<Keychain, 'get' | 'service'>;
}

export class SecretResolver {
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly keychain: Pick<Keychain, 'get' | 'service'>;

  constructor({ env = process.env, keychain = new Keychain() }: SecretResolverOptions = {}) {
    this.env = env;
    this.keychain = keychain;
  }

  /**
   * The secret a reference points to. `purpose` names what it is for ("passphrase of the
   * repositories") so the error tells the DBA which setting to fix. The value is registered
   * for redaction before it is returned.
   */
  async resolve(reference: string | SecretReference, purpose: string): Promise<string> {
    const parsed = typeof reference === 'string' ? parseSecretReference(reference) : reference;
    const secret = parsed.kind === 'env' ? this.fromEnv(parsed.variable, purpose) : await this.fromKeychain(parsed.account, purpose);
    registerSecret(secret);
    return secret;
  }

  private fromEnv(variable: string, purpose: string): string {
    const value = this.env[variable];
    if (value === undefined || value === '') {
      throw new DrcError(
        'SECRET_UNRESOLVED',
        `unable to resolve the ${purpose}: environment variable '${variable}' is ${value === undefined ? 'not set' : 'empty'}`,
        {
          hints: [
            `export ${variable}=… in the environment drc runs in (shell, service unit, CI secret)`,
            "or store the secret in the OS keychain with 'drc secret set ACCOUNT' and reference it as 'keychain:ACCOUNT'",
          ],
        },
      );
    }
    return value;
  }

  private async fromKeychain(account: string, purpose: string): Promise<string> {
    const value = await this.keychain.get(account);
    if (value === undefined || value === '') {
      throw new DrcError(
        'SECRET_UNRESOLVED',
        `unable to resolve the ${purpose}: the OS keychain ${value === undefined ? 'has no entry' : 'holds an empty secret for'} '${account}' (service '${this.keychain.service}')`,
        {
          hints: [
            `store it with 'drc secret set ${account}'`,
            "on a headless host, reference an environment variable instead: 'env:VARIABLE'",
          ],
        },
      );
    }
    return value;
  }
}
