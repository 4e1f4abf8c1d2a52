import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, resolveConfigPaths } from '../../src/main/config.js';
import { clusterConnection, requireCluster, withSql } from '../../src/main/postgres/cluster.js';
import { ReplicationConnection } from '../../src/main/postgres/replication/connection.js';
import type { ReplicationConnectionOptions } from '../../src/main/postgres/replication/types.js';
import { SecretResolver } from '../../src/main/secrets/references.js';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { DrcError } from '../../src/shared/errors.js';
import { drc } from '../support/cli.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster, type TestMajor } from '../support/postgres.js';
import { makeTestCa, type TestCa } from '../support/test-ca.js';

process.env.DRC_TEST_PASSPHRASE = 'tls round trip passphrase';
afterAll(stopAllClusters);

let ca: TestCa;
beforeAll(async () => {
  ca = await makeTestCa(['tls_client']);
});

/** TLS or nothing from 127.0.0.1, and `cert` authentication for tls_client. */
const hostsslOnly = ['hostssl all tls_client 127.0.0.1/32 cert', 'hostnossl all all 127.0.0.1/32 reject', 'hostnossl replication all 127.0.0.1/32 reject'];

async function startTlsServer(major: TestMajor): Promise<TestCluster> {
  const server = await startCluster({ major, settings: ca.serverSettings, hba: hostsslOnly });
  await adminSql(server, 'CREATE ROLE tls_client LOGIN REPLICATION');
  return server;
}

/** The harness's `sql()` is plain, which these servers refuse: the same, over TLS without verification. */
async function adminSql<Row extends Record<string, unknown>>(server: TestCluster, text: string): Promise<Row[]> {
  const client = new pg.Client({ ...server.connection, ssl: { rejectUnauthorized: false }, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The connection options drc builds from a config's cluster section; relative paths are beside the CA files. */
async function connectionFor(server: TestCluster, cluster: Record<string, unknown>, env: Record<string, string> = {}): Promise<ReplicationConnectionOptions> {
  const config = parseConfig({
    cluster: { name: 'tls', host: '127.0.0.1', port: server.port, user: 'postgres', ...cluster },
    encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
    repositories: [{ name: 'nas', type: 'local', path: 'nas' }],
  });
  return clusterConnection(requireCluster(resolveConfigPaths(config, ca.dir).cluster), new SecretResolver({ env }));
}

/** Whether a SQL session (pg) is encrypted, and who it is logged in as, by the server's own account. */
async function sqlSession(connection: ReplicationConnectionOptions): Promise<{ tls: boolean; user: string }> {
  return withSql(connection, async (client) => {
    const row = (await client.query<{ ssl: boolean; user: string }>('SELECT ssl, current_user AS user FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0];
    return { tls: row?.ssl === true, user: row?.user ?? '' };
  });
}

/** The same for the replication connection: IDENTIFY_SYSTEM, then the server's view of the session. */
async function replicationSession(connection: ReplicationConnectionOptions): Promise<{ tls: boolean; systemId: string }> {
  const replication = await ReplicationConnection.connect(connection);
  try {
    const identity = await replication.identifySystem();
    const [row] = await replication.query('SELECT ssl::text AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return { tls: row?.ssl === 'true', systemId: identity.systemId };
  } finally {
    await replication.close();
  }
}

async function failure(attempt: Promise<unknown>): Promise<DrcError> {
  const error = await attempt.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DrcError);
  return error as DrcError;
}

describe('TLS settings in the config', () => {
  it('refuses verify-full without a root certificate, and a client certificate without its key', () => {
    const parse = (cluster: Record<string, unknown>): unknown => () =>
      parseConfig({ cluster: { name: 'tls', ...cluster }, encryption: { passphrase: 'env:X' }, repositories: [{ name: 'nas', type: 'local', path: '/nas' }] });
    expect(parse({ sslmode: 'verify-full' })).toThrow(/cluster\.sslrootcert: sslmode 'verify-full' verifies the server certificate/);
    expect(parse({ sslmode: 'require', sslrootcert: 'system' })).toThrow(/only safe with sslmode "verify-full"/);
    expect(parse({ sslcert: 'client.crt' })).toThrow(/cluster\.sslkey: a client certificate needs both sslcert and sslkey/);
    expect(parse({ sslmode: 'sometimes' })).toThrow(/cluster\.sslmode/);
  });

  it('reads certificate paths beside the config file and names a missing one', async () => {
    const config = parseConfig({
      cluster: { name: 'tls', sslmode: 'verify-full', sslrootcert: 'certs/root.crt' },
      encryption: { passphrase: 'env:X' },
      repositories: [{ name: 'nas', type: 'local', path: 'nas' }],
    });
    const cluster = requireCluster(resolveConfigPaths(config, '/etc/drc').cluster);
    expect(cluster.sslrootcert).toBe('/etc/drc/certs/root.crt');
    const error = await failure(clusterConnection(cluster, new SecretResolver({ env: {} })));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe("unable to read cluster.sslrootcert '/etc/drc/certs/root.crt': ENOENT");
  });
});

it.each([
  ['never answers SSLRequest', (): void => undefined],
  ['accepts TLS, then never shakes hands', (socket: Socket): void => void socket.once('data', () => socket.write('S'))],
])('fails with PG_CONNECT_FAILED in time when the server %s', async (_, behaviour) => {
  const silent = createServer(behaviour);
  await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  const { port } = silent.address() as AddressInfo;
  try {
    const started = Date.now();
    const error = await failure(ReplicationConnection.connect({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectTimeoutMs: 300, tls: { mode: 'require', verifyChain: false } }));
    expect(error.code).toBe('PG_CONNECT_FAILED');
    expect(error.message).toBe(`unable to connect to PostgreSQL at 127.0.0.1:${String(port)} as 'postgres': no answer within 300 ms`);
    expect(Date.now() - started).toBeLessThan(5000);
  } finally {
    silent.close();
  }
});

describe.each([15, 17] as TestMajor[])('TLS to PostgreSQL %i', (major) => {
  let server: TestCluster;
  let plainServer: TestCluster;
  beforeAll(async () => {
    [server, plainServer] = await Promise.all([startTlsServer(major), startCluster({ major })]);
  });
  afterAll(async () => {
    await Promise.all([server.remove(), plainServer.remove()]);
  });

  it('require encrypts SQL sessions and the replication stream', async () => {
    const connection = await connectionFor(server, { sslmode: 'require' });
    expect(await sqlSession(connection)).toEqual({ tls: true, user: 'postgres' });
    const replication = await replicationSession(connection);
    expect(replication.tls).toBe(true);
    expect(replication.systemId).toMatch(/^\d+$/);
  });

  it('verify-full to the name on the certificate (localhost) works on both paths', async () => {
    const connection = await connectionFor(server, { host: 'localhost', sslmode: 'verify-full', sslrootcert: 'ca.crt' });
    expect((await sqlSession(connection)).tls).toBe(true);
    expect((await replicationSession(connection)).tls).toBe(true);
  });

  it('verify-full to 127.0.0.1 is refused with PG_TLS_VERIFY_FAILED and a hint naming localhost', async () => {
    const connection = await connectionFor(server, { host: '127.0.0.1', sslmode: 'verify-full', sslrootcert: 'ca.crt' });
    for (const error of [await failure(sqlSession(connection)), await failure(replicationSession(connection))]) {
      expect(error.code).toBe('PG_TLS_VERIFY_FAILED');
      expect(error.message).toBe(`unable to verify the certificate of PostgreSQL at 127.0.0.1:${String(server.port)}: it is for localhost, not '127.0.0.1' (sslmode verify-full)`);
      expect(error.hints).toEqual([`connect by the name the certificate is for: set cluster.host to 'localhost'; or use sslmode "verify-ca" to check the chain only`]);
    }
  });

  it('verify-ca checks the chain only: any host with the right CA, no host with another CA', async () => {
    const rightCa = await connectionFor(server, { host: '127.0.0.1', sslmode: 'verify-ca', sslrootcert: 'ca.crt' });
    expect((await sqlSession(rightCa)).tls).toBe(true);
    expect((await replicationSession(rightCa)).tls).toBe(true);
    const wrongCa = await connectionFor(server, { host: 'localhost', sslmode: 'verify-ca', sslrootcert: 'other-ca.crt' });
    // As libpq: require with a root certificate verifies the chain too.
    const requireWrongCa = await connectionFor(server, { host: 'localhost', sslmode: 'require', sslrootcert: 'other-ca.crt' });
    for (const error of [await failure(sqlSession(wrongCa)), await failure(replicationSession(wrongCa)), await failure(replicationSession(requireWrongCa))]) {
      expect(error.code).toBe('PG_TLS_VERIFY_FAILED');
      expect(error.message).toMatch(/^unable to verify the certificate of PostgreSQL at localhost:\d+: .*\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
    }
  });

  it('disable against a hostssl-only server is a refused login whose first hint says to turn TLS on', async () => {
    const connection = await connectionFor(server, { sslmode: 'disable' });
    for (const error of [await failure(sqlSession(connection)), await failure(replicationSession(connection))]) {
      expect(['PG_AUTH_FAILED', 'PG_REPLICATION_REFUSED']).toContain(error.code);
      expect(error.message).toMatch(/pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "postgres", database "postgres", no encryption/);
      expect(error.hints[0]).toMatch(/^pg_hba\.conf refused this login without encryption: .* set cluster\.sslmode to "verify-full"/);
    }
  });

  it('allow starts plain and turns to TLS when the plain login is refused', async () => {
    const connection = await connectionFor(server, { sslmode: 'allow' });
    expect((await sqlSession(connection)).tls).toBe(true);
    expect((await replicationSession(connection)).tls).toBe(true);
  });

  it('logs in with a client certificate (hostssl … cert), and without one is refused', async () => {
    const client = ca.client('tls_client');
    const withCertificate = await connectionFor(server, { host: 'localhost', user: 'tls_client', sslmode: 'verify-full', sslrootcert: 'ca.crt', sslcert: client.cert, sslkey: client.key });
    expect(await sqlSession(withCertificate)).toEqual({ tls: true, user: 'tls_client' });
    expect((await replicationSession(withCertificate)).tls).toBe(true);
    // A passphrase-protected key, its passphrase given as a secret reference.
    const encrypted = await connectionFor(
      server,
      { host: 'localhost', user: 'tls_client', sslmode: 'verify-full', sslrootcert: 'ca.crt', sslcert: client.cert, sslkey: client.encryptedKey, sslpassword: 'env:DRC_TEST_SSLPASSWORD' },
      { DRC_TEST_SSLPASSWORD: client.passphrase },
    );
    expect(await sqlSession(encrypted)).toEqual({ tls: true, user: 'tls_client' });
    expect((await replicationSession(encrypted)).tls).toBe(true);
    const wrongPassphrase = await connectionFor(
      server,
      { host: 'localhost', user: 'tls_client', sslmode: 'verify-full', sslrootcert: 'ca.crt', sslcert: client.cert, sslkey: client.encryptedKey, sslpassword: 'env:DRC_TEST_SSLPASSWORD' },
      { DRC_TEST_SSLPASSWORD: 'not the passphrase' },
    );
    for (const error of [await failure(sqlSession(wrongPassphrase)), await failure(replicationSession(wrongPassphrase))]) {
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toMatch(/^unable to use the client certificate for PostgreSQL at localhost:\d+: .*bad decrypt/);
    }
    const without = await connectionFor(server, { host: 'localhost', user: 'tls_client', sslmode: 'verify-full', sslrootcert: 'ca.crt' });
    for (const error of [await failure(sqlSession(without)), await failure(replicationSession(without))]) {
      expect(error.code).toBe('PG_AUTH_FAILED');
      expect(error.message).toMatch(/certificate/);
    }
  });

  it('require against a server without TLS fails with PG_TLS_REQUIRED; prefer goes on in plain', async () => {
    const required = await connectionFor(plainServer, { sslmode: 'require' });
    for (const error of [await failure(sqlSession(required)), await failure(replicationSession(required))]) {
      expect(error.code).toBe('PG_TLS_REQUIRED');
      expect(error.message).toBe(`unable to connect to PostgreSQL at 127.0.0.1:${String(plainServer.port)} with sslmode 'require': the server does not offer TLS`);
      expect(error.hints[0]).toMatch(/ssl = on/);
    }
    const preferred = await connectionFor(plainServer, {});
    expect(preferred.tls?.mode).toBe('prefer');
    expect((await sqlSession(preferred)).tls).toBe(false);
    expect((await replicationSession(preferred)).tls).toBe(false);
  });
});

describe.each([15, 17] as TestMajor[])('drc backup and restore over TLS on PostgreSQL %i', (major) => {
  it('backs up a hostssl-only server with verify-full and restores it', async () => {
    const server = await startTlsServer(major);
    const root = await makeTempDir('drc-tls-');
    await adminSql(server, "CREATE TABLE vault AS SELECT g AS id, md5(g::text) AS secret FROM generate_series(1, 20000) g");
    const digest = "SELECT count(*)::int AS rows, md5(string_agg(secret, ',' ORDER BY id)) AS digest FROM vault";
    const [atBackup] = await adminSql<{ rows: number; digest: string }>(server, digest);
    // The root certificate by a path relative to the config file, as a DBA would keep it.
    await mkdir(join(root, 'certs'));
    await copyFile(ca.caCert, join(root, 'certs', 'root.crt'));
    const configPath = join(root, 'drc.json');
    await writeFile(
      configPath,
      JSON.stringify({
        cluster: { name: `pg${String(major)}`, host: 'localhost', port: server.port, user: 'postgres', sslmode: 'verify-full', sslrootcert: 'certs/root.crt' },
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [{ name: 'nas', type: 'local', path: 'nas' }],
      }),
    );

    expect((await drc(['repo', 'init', '--config', configPath, '--kdf-cost', '10'])).code).toBe(0);
    const backup = await drc(['backup', '--config', configPath, '--reason', 'tls test', '--json']);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const record = backup.json<BackupRecord>();
    expect(Math.floor(record.serverVersionNum / 10000)).toBe(major);

    const target = join(root, 'restored');
    const restored = await drc(['restore', '--config', configPath, '--target-dir', target, '--immediate', '--json']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);

    await server.stop();
    // The restored cluster keeps the source's settings: TLS on, hostssl only.
    const copy = await startClusterFromDataDir(target, major);
    await copy.promote().catch(() => undefined);
    expect(await adminSql(copy, digest)).toEqual([atBackup]);
    await copy.remove();
    await server.remove();
  });
});
