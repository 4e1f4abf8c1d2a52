import { execFile } from 'node:child_process';
import { chmod, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runAsUnprivileged } from '../../src/main/postgres/binaries.js';
import { makeTempDir } from './postgres.js';

const execFileAsync = promisify(execFile);

/**
 * A certificate authority made with `openssl` at test time, never a checked-in key: a CA,
 * a server certificate for DNS:localhost only (so connecting by 127.0.0.1 is a host
 * mismatch under verify-full), a client certificate per role (CN = the role, as `cert`
 * authentication wants), and a second, unrelated CA to be the wrong one.
 */
export interface TestCa {
  readonly dir: string;
  readonly caCert: string;
  readonly otherCaCert: string;
  readonly serverCert: string;
  /** Owned by the server user, mode 0600: PostgreSQL refuses a key others may read. */
  readonly serverKey: string;
  /** Client certificate and key for `role`, signed by the CA; the key also encrypted with `passphrase`. */
  readonly client: (role: string) => { readonly cert: string; readonly key: string; readonly encryptedKey: string; readonly passphrase: string };
  /** postgresql.conf settings turning TLS on with these files. */
  readonly serverSettings: Record<string, string>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/** P-256 keys: quick to make, and every PostgreSQL and Node build takes them. */
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(['req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

async function signed(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  await openssl(['req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  await chmod(join(dir, `${name}.key`), 0o600);
}

const CLIENT_KEY_PASSPHRASE = 'client key passphrase';

export async function makeTestCa(clientRoles: readonly string[]): Promise<TestCa> {
  const dir = await makeTempDir('drc-ca-');
  await makeCa(dir, 'ca');
  await makeCa(dir, 'other-ca');
  await signed(dir, 'server', '/CN=localhost', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  for (const role of clientRoles) {
    await signed(dir, `client-${role}`, `/CN=${role}`, 'extendedKeyUsage=clientAuth\n');
    await openssl(['pkey', '-in', `client-${role}.key`, '-aes256', '-passout', `pass:${CLIENT_KEY_PASSPHRASE}`, '-out', `client-${role}.encrypted.key`], dir);
    await chmod(join(dir, `client-${role}.encrypted.key`), 0o600);
  }
  const ids = runAsUnprivileged();
  if (ids !== undefined) await chown(join(dir, 'server.key'), ids.uid, ids.gid);
  const path = (name: string): string => join(dir, name);
  return {
    dir,
    caCert: path('ca.crt'),
    otherCaCert: path('other-ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    client: (role) => ({ cert: path(`client-${role}.crt`), key: path(`client-${role}.key`), encryptedKey: path(`client-${role}.encrypted.key`), passphrase: CLIENT_KEY_PASSPHRASE }),
    serverSettings: { ssl: 'on', ssl_cert_file: `'${path('server.crt')}'`, ssl_key_file: `'${path('server.key')}'`, ssl_ca_file: `'${path('ca.crt')}'` },
  };
}
