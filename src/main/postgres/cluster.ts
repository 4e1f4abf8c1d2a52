import { userInfo } from 'node:os';
import pg from 'pg';
import type { ClusterConfig } from '../../shared/config.js';
import { DrcError } from '../../shared/errors.js';
import type { SecretResolver } from '../secrets/references.js';
import type { ReplicationConnectionOptions } from './replication/types.js';

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
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    user: connection.user,
    database: connection.database,
    application_name: connection.applicationName ?? 'dr-console',
    connectionTimeoutMillis: connection.connectTimeoutMs ?? 10_000,
    ...(connection.password === undefined ? {} : { password: connection.password }),
  });
  try {
    await client.connect();
  } catch (error) {
    // A refused login is the same mistake whichever connection met it first: the replication
    // client reports it as PG_AUTH_FAILED (28P01, 28000), so this one must too, or one
    // wrong password would exit 2 from `drc backup` and 1 from `drc status`.
    const sqlState = (error as { code?: unknown }).code;
    if (sqlState === '28P01' || sqlState === '28000') {
      throw new DrcError('PG_AUTH_FAILED', `unable to log in to PostgreSQL at ${connection.host}:${String(connection.port)} as '${connection.user}': ${(error as Error).message}`, {
        hints: [`check the user name and the password stored for '${connection.user}' (keychain or env reference), and pg_hba.conf`],
        cause: error,
      });
    }
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
