import { userInfo } from 'node:os';
import pg from 'pg';
import type { ClusterConfig } from '../../shared/config.js';
import { DrcError } from '../../shared/errors.js';
import type { SecretResolver } from '../secrets/references.js';
import { pgLoginError } from './login-errors.js';
import type { ReplicationConnectionOptions } from './replication/types.js';
import { connectSqlSession, loadTlsSettings } from './tls.js';

/**
 * How to reach the configured cluster, with libpq's defaults for what the config leaves
 * out: user = the OS user, password from PGPASSWORD (or none: trust, peer, .pgpass).
 */
export async function clusterConnection(cluster: ClusterConfig, secrets: SecretResolver): Promise<ReplicationConnectionOptions> {
  const password = cluster.password === undefined ? process.env.PGPASSWORD : await secrets.resolve(cluster.password, `password of cluster '${cluster.name}'`);
  return {
    host: cluster.host,
    port: cluster.port,
    user: cluster.user ?? process.env.PGUSER ?? userInfo().username,
    database: cluster.database,
    applicationName: 'dr-console',
    tls: await loadTlsSettings(cluster, cluster.sslpassword === undefined ? undefined : await secrets.resolve(cluster.sslpassword, `client key passphrase of cluster '${cluster.name}'`)),
    ...(password === undefined ? {} : { password }),
  };
}

export function requireCluster(cluster: ClusterConfig | undefined): ClusterConfig {
  if (cluster) return cluster;
  throw new DrcError('CONFIG_INVALID', 'unable to reach the cluster: the config has no "cluster" section', {
    hints: ['add "cluster": { "name": …, "host": …, "port": …, "user": … } to the config (README.md shows an example)'],
  });
}

/** Runs `work` with an ordinary SQL session, closed afterwards whatever happens. */
export async function withSql<T>(connection: ReplicationConnectionOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  let client: pg.Client;
  try {
    client = await connectSqlSession(connection, (ssl) =>
        new pg.Client({
          host: connection.host,
          port: connection.port,
          user: connection.user,
          database: connection.database,
          application_name: connection.applicationName ?? 'dr-console',
          connectionTimeoutMillis: connection.connectTimeoutMs ?? 10_000,
          ssl,
          ...(connection.password === undefined ? {} : { password: connection.password }),
        }),
    );
  } catch (error) {
    // TLS failures arrive already worded (PG_TLS_REQUIRED, PG_TLS_VERIFY_FAILED).
    if (error instanceof DrcError) throw error;
    const refused = pgLoginError(error, `PostgreSQL at ${connection.host}:${String(connection.port)}`, connection.user);
    if (refused) throw refused;
    throw new DrcError('PG_CONNECT_FAILED', `unable to connect to PostgreSQL at ${connection.host}:${String(connection.port)} as '${connection.user}': ${(error as Error).message}`, {
      hints: ['check that the server is running and the cluster settings in the config (host, port, user, password)'],
      retryable: true,
      cause: error,
    });
  }
  try {
    return await work(client);
  } catch (error) {
    if (error instanceof DrcError) throw error;
    throw new DrcError('PG_QUERY_FAILED', `unable to query PostgreSQL at ${connection.host}:${String(connection.port)}: ${(error as Error).message}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}
