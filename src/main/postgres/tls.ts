import { readFile } from 'node:fs/promises';
import { isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { DrcError } from '../../shared/errors.js';
import { loginRefused } from './login-errors.js';

/**
 * TLS to the configured cluster, with libpq's `sslmode` meanings, for both ways drc talks
 * to it: our own replication socket and `pg` sessions. Both take their options from here,
 * so a setting can never verify on one path and not on the other.
 *
 * - disable: plain only.
 * - allow: plain first; TLS only if the server refuses the plain login.
 * - prefer (libpq's default): TLS if the server offers it, else plain; nothing verified.
 * - require: TLS or nothing; with a root certificate it verifies the chain (as libpq does).
 * - verify-ca: TLS, the server certificate signed by the root certificate; any host name.
 * - verify-full: verify-ca, and the certificate names the host drc connects to.
 */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** `sslrootcert` value meaning "the usual public certificate authorities" (libpq 16+). */
const SYSTEM_ROOTS = 'system';

/** The TLS fields of the cluster config, file paths already absolute. */
export interface ClusterTlsConfig {
  readonly sslmode: SslMode;
  readonly sslrootcert?: string | undefined;
  readonly sslcert?: string | undefined;
  readonly sslkey?: string | undefined;
}

/** The config's TLS settings with the certificate files read. */
export interface TlsSettings {
  readonly mode: SslMode;
  /** The trusted root certificates; undefined with `system` (Node's bundled public roots) or no root certificate. */
  readonly ca?: Buffer;
  /** Whether the server's certificate chain is checked: verify-ca, verify-full, or require with a root certificate. */
  readonly verifyChain: boolean;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly passphrase?: string;
}

/** Reads the certificate files the config names; a file that cannot be read fails as CONFIG_INVALID naming it. */
export async function loadTlsSettings(config: ClusterTlsConfig, passphrase?: string): Promise<TlsSettings> {
  const mode = config.sslmode;
  if ((mode === 'verify-ca' || mode === 'verify-full') && config.sslrootcert === undefined) {
    throw new DrcError('CONFIG_INVALID', `unable to verify the server certificate with sslmode '${mode}': no root certificate is configured`, {
      hints: ['set cluster.sslrootcert to the CA certificate that signed the server certificate (or "system" for public authorities), or use sslmode "require" to encrypt without verifying'],
    });
  }
  const systemRoots = config.sslrootcert === SYSTEM_ROOTS;
  const ca = config.sslrootcert === undefined || systemRoots ? undefined : await readCertificateFile('sslrootcert', config.sslrootcert);
  const cert = config.sslcert === undefined ? undefined : await readCertificateFile('sslcert', config.sslcert);
  const key = config.sslkey === undefined ? undefined : await readCertificateFile('sslkey', config.sslkey);
  return {
    mode,
    verifyChain: mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && config.sslrootcert !== undefined),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(passphrase === undefined ? {} : { passphrase }),
  };
}

async function readCertificateFile(field: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new DrcError('CONFIG_INVALID', `unable to read cluster.${field} '${path}': ${code}`, {
      hints: [
        code === 'EACCES'
          ? `let the user running drc read '${path}' (a private key may stay 0600 if that user owns it)`
          : `correct cluster.${field} in the config (a relative path is read beside the config file), or copy the file there`,
      ],
    });
  }
}

/**
 * Options for `tls.connect`, for either path. The host check is ours rather than Node's
 * default, because Node checks against `servername`, which must stay unset for an IP
 * address (no SNI for addresses) and would then fall back to 'localhost'.
 */
function tlsConnectOptions(settings: TlsSettings, host: string): ConnectionOptions {
  return {
    rejectUnauthorized: settings.verifyChain,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ...(settings.cert === undefined ? {} : { cert: settings.cert }),
    ...(settings.key === undefined ? {} : { key: settings.key }),
    ...(settings.passphrase === undefined ? {} : { passphrase: settings.passphrase }),
    ...(isIP(host) === 0 ? { servername: host } : {}),
    checkServerIdentity: (_name: string, certificate: PeerCertificate) => (settings.mode === 'verify-full' ? checkServerIdentity(host, certificate) : undefined),
  };
}

/** Whether the first attempt asks for TLS: allow starts plain, disable never asks. */
export function asksForTlsFirst(settings: TlsSettings | undefined): boolean {
  return settings !== undefined && settings.mode !== 'disable' && settings.mode !== 'allow';
}

/** Whether the server may be used without TLS when it does not offer it. */
function plainAllowed(settings: TlsSettings | undefined): boolean {
  return settings === undefined || settings.mode === 'disable' || settings.mode === 'allow' || settings.mode === 'prefer';
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]); // length 8, code 80877103

/**
 * The SSLRequest exchange on a fresh socket, within `timeoutMs`: the socket to speak the
 * protocol on, TLS if the server answered 'S', the same plain socket if it answered 'N'
 * and the mode allows that. Socket errors are passed on as they are, for the caller to word.
 */
export async function negotiateTls(socket: Socket, settings: TlsSettings, host: string, port: number, timeoutMs: number): Promise<Socket> {
  let secure: TLSSocket | undefined;
  // Whichever socket is current when time runs out: destroying it fails the step under way.
  const timer = setTimeout(() => (secure ?? socket).destroy(new Error(`no answer within ${String(timeoutMs)} ms`)), timeoutMs);
  try {
    secure = await upgrade(socket, settings, host, port, (started) => (secure = started));
    return secure ?? socket;
  } finally {
    clearTimeout(timer);
  }
}

async function upgrade(socket: Socket, settings: TlsSettings, host: string, port: number, onStarted: (secure: TLSSocket) => void): Promise<TLSSocket | undefined> {
  const answer = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      cleanup();
      // Anything after the one answer byte would be unencrypted data injected before the handshake (CVE-2021-23222).
      if (chunk.length !== 1) reject(new DrcError('PG_PROTOCOL', `unable to start TLS with PostgreSQL at ${host}:${String(port)}: unexpected data after the answer to SSLRequest`));
      else resolve(chunk[0] ?? 0);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(Object.assign(new Error('the server closed the connection before answering SSLRequest'), { code: 'ECONNRESET' }));
    };
    const cleanup = (): void => {
      socket.off('data', onData).off('error', onError).off('close', onClose);
    };
    socket.on('data', onData).once('error', onError).once('close', onClose);
    socket.write(SSL_REQUEST);
  });
  if (answer === 0x4e /* N */) {
    if (plainAllowed(settings)) return undefined;
    throw tlsRequiredError(host, port, settings.mode);
  }
  if (answer !== 0x53 /* S */) throw new DrcError('PG_PROTOCOL', `unable to start TLS with PostgreSQL at ${host}:${String(port)}: answer '${String.fromCharCode(answer)}' to SSLRequest`);
  let secure: TLSSocket;
  try {
    secure = tlsConnect({ ...tlsConnectOptions(settings, host), socket });
  } catch (error) {
    // The client key is read here: a wrong passphrase or a key that is not PEM throws at once.
    throw tlsFailure(error, host, port) ?? error;
  }
  onStarted(secure);
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => {
      secure.off('error', reject);
      resolve();
    });
    secure.once('error', reject);
  }).catch((error: unknown) => {
    secure.destroy();
    throw tlsFailure(error, host, port) ?? error;
  });
  return secure;
}

function tlsRequiredError(host: string, port: number, mode: SslMode): DrcError {
  return new DrcError('PG_TLS_REQUIRED', `unable to connect to PostgreSQL at ${host}:${String(port)} with sslmode '${mode}': the server does not offer TLS`, {
    hints: ["turn TLS on at the server (ssl = on, ssl_cert_file, ssl_key_file in postgresql.conf, then reload)", `or, on a network you trust, set cluster.sslmode to "prefer" or "disable"`],
  });
}

/** Node's certificate verification failures, from OpenSSL's X509 codes and the host check. */
const VERIFY_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
]);

/** A TLS failure as the DBA's error (PG_TLS_VERIFY_FAILED, or PG_CONNECT_FAILED for a failed handshake); undefined for other errors. */
export function tlsFailure(error: unknown, host: string, port: number): DrcError | undefined {
  if (error instanceof DrcError) return error;
  const code = (error as { code?: unknown }).code;
  const endpoint = `${host}:${String(port)}`;
  if (typeof code === 'string' && VERIFY_CODES.has(code)) {
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      const names = certificateNames((error as { cert?: PeerCertificate }).cert);
      return new DrcError('PG_TLS_VERIFY_FAILED', `unable to verify the certificate of PostgreSQL at ${endpoint}: it is for ${names.length === 0 ? 'another host' : names.join(', ')}, not '${host}' (sslmode verify-full)`, {
        hints: [
          names.length === 0
            ? 'connect by the name the server certificate is issued for (cluster.host), or use sslmode "verify-ca" to check the chain only'
            : `connect by the name the certificate is for: set cluster.host to '${names[0] ?? ''}'; or use sslmode "verify-ca" to check the chain only`,
        ],
        cause: error,
      });
    }
    return new DrcError('PG_TLS_VERIFY_FAILED', `unable to verify the certificate of PostgreSQL at ${endpoint}: ${(error as Error).message} (${code})`, {
      hints: ['cluster.sslrootcert must be the certificate of the authority that signed the server certificate (ssl_cert_file on the server)', 'check the dates of the server certificate; or use sslmode "require" to encrypt without verifying'],
      cause: error,
    });
  }
  if (typeof code === 'string' && code.startsWith('ERR_SSL_')) {
    return new DrcError('PG_CONNECT_FAILED', `unable to start TLS with PostgreSQL at ${endpoint}: ${(error as Error).message}`, {
      hints: ['check the server log: the TLS handshake failed (protocol version, cipher, or a client certificate the server refused)', 'check cluster.sslcert and cluster.sslkey belong together'],
      cause: error,
    });
  }
  if (error instanceof Error && /bad decrypt|PEM|private key|key values mismatch/i.test(error.message)) {
    return new DrcError('CONFIG_INVALID', `unable to use the client certificate for PostgreSQL at ${endpoint}: ${error.message}`, {
      hints: ['cluster.sslcert and cluster.sslkey must be PEM files that belong together; an encrypted key needs cluster.sslpassword'],
      cause: error,
    });
  }
  return undefined;
}

/** The host names and addresses a certificate is for: its subjectAltName entries, else its common name. */
function certificateNames(certificate: PeerCertificate | undefined): string[] {
  if (certificate === undefined) return [];
  const alt = (certificate.subjectaltname ?? '')
    .split(',')
    .map((entry) => entry.trim().replace(/^(DNS|IP Address):/, ''))
    .filter((entry) => entry !== '');
  if (alt.length > 0) return alt;
  const commonName = certificate.subject.CN;
  return typeof commonName === 'string' ? [commonName] : [];
}

/**
 * The `ssl` option for `pg.Client`, one per attempt, and when to go on to the next:
 * prefer falls back to plain when the server has no TLS, allow to TLS when the plain
 * login is refused. `pg` has no prefer or allow of its own.
 */
function sqlSessionAttempts(settings: TlsSettings | undefined, host: string): Array<{ ssl: false | ConnectionOptions; fallBackWhen: (error: unknown) => boolean }> {
  if (settings === undefined || settings.mode === 'disable') return [{ ssl: false, fallBackWhen: () => false }];
  const secure = tlsConnectOptions(settings, host);
  if (settings.mode === 'allow') return [{ ssl: false, fallBackWhen: isLoginRefusal }, { ssl: secure, fallBackWhen: () => false }];
  if (settings.mode === 'prefer') return [{ ssl: secure, fallBackWhen: serverHasNoTls }, { ssl: false, fallBackWhen: () => false }];
  return [{ ssl: secure, fallBackWhen: () => false }];
}

/** `pg`'s wording when the server answers 'N' to SSLRequest; it gives no code. */
function serverHasNoTls(error: unknown): boolean {
  return error instanceof Error && error.message === 'The server does not support SSL connections';
}

/** A login the server refused (SQLSTATE 28000, 28P01), from `pg` (code) or our client (sqlState): allow then tries TLS. */
export function isLoginRefusal(error: unknown): boolean {
  const sqlState = (error as { code?: unknown; sqlState?: unknown }).sqlState ?? (error as { code?: unknown }).code;
  return sqlState === '28000' || sqlState === '28P01';
}

/**
 * Connects a `pg` session the way `sslmode` says, a new client per attempt (a `pg.Client`
 * cannot connect twice). TLS failures become PG_TLS_REQUIRED or PG_TLS_VERIFY_FAILED;
 * other errors are passed on for the caller to word.
 */
export async function connectSqlSession<C extends { connect(): Promise<unknown> }>(
  { tls: settings, host, port, user }: { tls?: TlsSettings | undefined; host: string; port: number; user: string },
  make: (ssl: false | ConnectionOptions) => C,
): Promise<C> {
  const attempts = sqlSessionAttempts(settings, host);
  for (const [index, attempt] of attempts.entries()) {
    const client = make(attempt.ssl);
    try {
      await client.connect();
      return client;
    } catch (error) {
      if (index < attempts.length - 1 && attempt.fallBackWhen(error)) continue;
      if (serverHasNoTls(error)) throw tlsRequiredError(host, port, settings?.mode ?? 'require');
      if (settings?.mode === 'disable' && refusedWithoutTls(error)) {
        const refused = loginRefused(`PostgreSQL at ${host}:${String(port)}`, user, (error as Error).message, error);
        throw new DrcError(refused.code, refused.message, { hints: [TLS_ONLY_HINT, ...refused.hints], cause: error });
      }
      throw tlsFailure(error, host, port) ?? error;
    }
  }
  throw new DrcError('INTERNAL', `unable to connect to PostgreSQL at ${host}:${String(port)}: no connection attempt was made`);
}

/**
 * PostgreSQL ends a refusal of a plain connection with "no encryption"; with sslmode
 * disable the likeliest cause is a pg_hba.conf that admits this login over TLS only.
 */
export function refusedWithoutTls(error: unknown): boolean {
  return isLoginRefusal(error) && error instanceof Error && /no encryption/.test(error.message);
}

export const TLS_ONLY_HINT =
  'pg_hba.conf refused this login without encryption: if it admits it only over TLS (hostssl lines), set cluster.sslmode to "verify-full" with cluster.sslrootcert, or at least "require"';
