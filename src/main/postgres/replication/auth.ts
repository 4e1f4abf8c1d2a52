import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { DrcError } from '../../../shared/errors.js';
import { passwordMessage, protocolError, readCString, saslInitialResponseMessage, saslResponseMessage } from './protocol.js';

const pbkdf2Async = promisify(pbkdf2);

/**
 * The client side of PostgreSQL authentication: trust, cleartext password, MD5 and
 * SCRAM-SHA-256 (RFC 5802/7677, without channel binding: this client does not use TLS).
 * Each Authentication message goes in; out comes the reply to send, if any.
 */
export class Authenticator {
  private scram: { clientNonce: string; clientFirstBare: string; serverSignature?: Buffer } | undefined;

  constructor(
    private readonly user: string,
    private readonly password: string | undefined,
    private readonly endpoint: string,
  ) {}

  /** `done` once the server says AuthenticationOk. */
  async respond(body: Buffer): Promise<{ reply?: Buffer; done: boolean }> {
    const kind = body.readInt32BE(0);
    switch (kind) {
      case 0:
        if (this.scram !== undefined && this.scram.serverSignature === undefined) throw this.failed('the server accepted the login without proving it knows the password');
        return { done: true };
      case 3:
        return { reply: passwordMessage(this.requirePassword('password')), done: false };
      case 5:
        return { reply: passwordMessage(md5Password(this.user, this.requirePassword('md5'), body.subarray(4, 8))), done: false };
      case 10:
        return { reply: this.scramFirst(body.subarray(4)), done: false };
      case 11:
        return { reply: await this.scramFinal(body.toString('utf8', 4)), done: false };
      case 12:
        this.scramVerify(body.toString('utf8', 4));
        return { done: false };
      default:
        throw new DrcError('PG_AUTH_FAILED', `unable to log in to ${this.endpoint} as '${this.user}': the server asks for an authentication method this client does not support (code ${String(kind)})`, {
          hints: ['use scram-sha-256 (or md5, password, trust) for this user in pg_hba.conf; Kerberos/GSSAPI/SSPI are not supported'],
        });
    }
  }

  private requirePassword(method: string): string {
    if (this.password === undefined) {
      throw new DrcError('PG_AUTH_FAILED', `unable to log in to ${this.endpoint} as '${this.user}': the server asks for a password (${method}) and none is configured`, {
        hints: ['store the password as a keychain: or env: reference in the connection settings'],
      });
    }
    return this.password;
  }

  private scramFirst(mechanismList: Buffer): Buffer {
    const mechanisms: string[] = [];
    for (let offset = 0; offset < mechanismList.length && mechanismList[offset] !== 0; ) {
      const { value, next } = readCString(mechanismList, offset);
      mechanisms.push(value);
      offset = next;
    }
    if (!mechanisms.includes('SCRAM-SHA-256')) {
      throw new DrcError('PG_AUTH_FAILED', `unable to log in to ${this.endpoint} as '${this.user}': the server offers only ${mechanisms.join(', ')}`, {
        hints: ['SCRAM-SHA-256-PLUS needs TLS, which this client does not use: allow scram-sha-256 for this connection in pg_hba.conf'],
      });
    }
    this.requirePassword('scram-sha-256');
    const clientNonce = randomBytes(18).toString('base64');
    // The user name travels in the startup message; PostgreSQL ignores SCRAM's.
    const clientFirstBare = `n=,r=${clientNonce}`;
    this.scram = { clientNonce, clientFirstBare };
    return saslInitialResponseMessage('SCRAM-SHA-256', `n,,${clientFirstBare}`);
  }

  private async scramFinal(serverFirst: string): Promise<Buffer> {
    if (this.scram === undefined) throw protocolError('a SCRAM continuation before the SCRAM exchange began');
    const attributes = scramAttributes(serverFirst);
    const nonce = attributes.get('r');
    const salt = attributes.get('s');
    const iterations = Number(attributes.get('i'));
    if (nonce === undefined || !nonce.startsWith(this.scram.clientNonce) || salt === undefined || !Number.isInteger(iterations) || iterations < 1) {
      throw protocolError('a malformed SCRAM server-first message');
    }
    const clientFinalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.scram.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const saltedPassword = await pbkdf2Async(normalizePassword(this.requirePassword('scram-sha-256')), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let index = 0; index < proof.length; index++) proof[index] = (clientKey[index] ?? 0) ^ (clientSignature[index] ?? 0);
    this.scram.serverSignature = hmac(hmac(saltedPassword, 'Server Key'), authMessage);
    return saslResponseMessage(`${clientFinalWithoutProof},p=${proof.toString('base64')}`);
  }

  private scramVerify(serverFinal: string): void {
    const expected = this.scram?.serverSignature;
    const verifier = scramAttributes(serverFinal).get('v');
    const received = verifier === undefined ? Buffer.alloc(0) : Buffer.from(verifier, 'base64');
    if (expected === undefined || received.length !== expected.length || !timingSafeEqual(received, expected)) {
      throw this.failed("the server's SCRAM signature does not match: it does not know this user's password");
    }
  }

  private failed(why: string): DrcError {
    return new DrcError('PG_AUTH_FAILED', `unable to log in to ${this.endpoint} as '${this.user}': ${why}`, {
      hints: ['make sure host and port point at the intended server'],
    });
  }
}

function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(inner).update(salt).digest('hex')}`;
}

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();

function scramAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of text.split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0) attributes.set(part.slice(0, equals), part.slice(equals + 1));
  }
  return attributes;
}

/**
 * SASLprep, as far as it matters in practice: ASCII passwords are used as they are, others
 * are NFKC-normalized, as the server did when the password was set. Not covered: a
 * password with characters SASLprep prohibits, which the server hashes as raw bytes.
 */
function normalizePassword(password: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(password) ? password : password.normalize('NFKC');
}
