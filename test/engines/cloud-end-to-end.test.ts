import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/main/repo/backup-record.js';
import { defaultRetryPolicy } from '../../src/main/storage/wrappers/retry.js';
import type { VerifyReport } from '../../src/shared/contract/repository.js';
import type { RestoreReport } from '../../src/shared/contract/restore.js';
import type { RestoreTestRecord } from '../../src/shared/contract/restore-test.js';
import { drc } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startGcsServer, type GcsServer, type RecordedRequest } from '../support/gcs-server.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, type TestCluster } from '../support/postgres.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';

/**
 * Backup, restore and restore test against both cloud repositories at once, with faults
 * injected in the middle of real transfers: s3rver behind the scripted fault proxy, and
 * the GCS test server with its own faults. Each case checks that the fault really fired
 * and that the same request was sent again, not merely that the command succeeded.
 */

process.env.DRC_TEST_PASSPHRASE = 'cloud end to end';
afterAll(stopAllClusters);

const bucket = 'drc-backups';
/** What S3 answers with a 5xx; the SDK reads the error code from it. */
const s3Error = (code: string): { status: number; body: string; headers: Record<string, string> } => ({
  status: code === 'InternalError' ? 500 : 503,
  body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test</Message></Error>`,
  headers: { 'content-type': 'application/xml' },
});
const tableDigest = "SELECT count(*)::int AS rows, md5(string_agg(g::text, ',' ORDER BY id)) AS digest FROM wedding_guests g";

interface Digest {
  rows: number;
  digest: string;
}

async function readDigest(cluster: TestCluster): Promise<Digest> {
  const [row] = await cluster.sql<{ rows: number; digest: string }>(tableDigest);
  if (row === undefined) throw new Error('the digest query returned no row');
  return row;
}

describe('cloud repositories (S3 and GCS) end to end with faults mid-transfer, PostgreSQL 17', () => {
  let source: TestCluster;
  let root: string;
  let s3: S3Server;
  let proxy: FaultProxy;
  let gcs: GcsServer;
  let configPath: string;
  /** The same S3 repository alone: a backup that can only go there fails when S3 does. */
  let s3OnlyConfigPath: string;
  let atBackup: Digest;

  const run = (args: string[], config = configPath) => drc([...args, '--config', config, '--json']);

  /** Every request the proxy faulted was sent again afterwards: same method, same object. */
  const expectS3Retried = (): void => {
    proxy.requests.forEach((request, index) => {
      if (request.fault === undefined || 'delayMs' in request.fault) return;
      const again = proxy.requests.slice(index + 1).some((later) => later.method === request.method && later.path === request.path);
      expect(again, `${request.method} ${request.path} after ${JSON.stringify(request.fault)}`).toBe(true);
    });
  };
  const expectGcsRetried = (): void => {
    gcs.requests.forEach((request, index) => {
      if (request.fault === undefined || 'delayMs' in request.fault) return;
      const again = gcs.requests.slice(index + 1).some((later) => later.method === request.method && later.url === request.url);
      expect(again, `${request.method} ${request.url} after ${JSON.stringify(request.fault)}`).toBe(true);
    });
  };
  const gcsFaulted = (): RecordedRequest[] => gcs.requests.filter((request) => request.fault !== undefined);

  const expectBothVerify = async (): Promise<void> => {
    const verify = await run(['verify']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const report = verify.json<VerifyReport>();
    expect(report.ok).toBe(true);
    expect(report.repositories.map((repository) => repository.repository).sort()).toEqual(['gcs', 's3']);
  };

  /** Restores with `--from`, starts the copy and reads the table back. */
  const restoreAndRead = async (from: 's3' | 'gcs'): Promise<{ report: RestoreReport; digest: Digest }> => {
    const target = join(root, `restored-${from}`);
    const restored = await run(['restore', '--target-dir', target, '--immediate', '--from', from]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    const copy = await startClusterFromDataDir(target, 17);
    await copy.promote().catch(() => undefined);
    const digest = await readDigest(copy);
    await copy.remove();
    return { report: restored.json<RestoreReport>(), digest };
  };

  const resetFaults = (): void => {
    proxy.rules.length = 0;
    proxy.requests.length = 0;
    gcs.faults.length = 0;
    gcs.requests.length = 0;
  };

  beforeAll(async () => {
    source = await startCluster({ major: 17 });
    root = await makeTempDir('drc-cloud-');
    s3 = await startS3Server();
    await s3.bucket(bucket);
    proxy = await startFaultProxy(s3.endpoint);
    gcs = await startGcsServer({ bucket: 'drc-offsite' });
    process.env.DRC_TEST_S3_KEY = s3.accessKeyId;
    process.env.DRC_TEST_S3_SECRET = s3.secretAccessKey;
    const s3Repository = {
      name: 's3',
      type: 's3',
      bucket,
      prefix: 'wedsync',
      region: 'eu-west-1',
      endpoint: proxy.url,
      forcePathStyle: true,
      accessKeyId: 'env:DRC_TEST_S3_KEY',
      secretAccessKey: 'env:DRC_TEST_S3_SECRET',
    };
    const gcsRepository = { name: 'gcs', type: 'gcs', bucket: 'drc-offsite', prefix: 'wedsync', apiEndpoint: gcs.url };
    const base = {
      cluster: { name: 'wedsync', host: source.connection.host, port: source.connection.port, user: source.connection.user, database: 'postgres' },
      encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
      stateDir: join(root, 'state'),
    };
    configPath = join(root, 'drc.json');
    await writeFile(configPath, JSON.stringify({ ...base, repositories: [s3Repository, gcsRepository] }));
    s3OnlyConfigPath = join(root, 'drc-s3-only.json');
    await writeFile(s3OnlyConfigPath, JSON.stringify({ ...base, repositories: [s3Repository] }));

    await source.sql('CREATE TABLE wedding_guests (id serial PRIMARY KEY, name text NOT NULL, rsvp boolean, note text)');
    await source.sql("INSERT INTO wedding_guests (name, rsvp, note) SELECT 'guest ' || g, g % 3 = 0, repeat('x', g % 200) FROM generate_series(1, 30000) g");
    atBackup = await readDigest(source);
    const init = await run(['repo', 'init', '--kdf-cost', '10']);
    expect(init.code).toBe(0);
  });

  afterAll(async () => {
    await source.remove();
    await proxy.close();
    await s3.close();
    await gcs.close();
    await rm(root, { recursive: true, force: true });
  });

  it('backs up to both through a 500, a reset mid-upload, an answer cut off (GCS) and a slow answer; every failed upload is sent again and both verify', async () => {
    resetFaults();
    proxy.rules.push(
      { match: { method: 'PUT', pathIncludes: '/chunks/' }, times: 1, action: s3Error('InternalError') },
      { match: { method: 'PUT', pathIncludes: '/chunks/' }, times: 1, action: { dropRequestAfterBytes: 1000 } },
      { match: { method: 'PUT', pathIncludes: '/chunks/' }, times: 1, action: { delayMs: 1500 } },
    );
    gcs.faults.push(
      { match: { method: 'POST', pathIncludes: 'chunks/' }, times: 1, action: { status: 500 } },
      // Within the multipart body's metadata part, so even the smallest chunk's upload is cut off.
      { match: { method: 'POST', pathIncludes: 'chunks/' }, times: 1, action: { dropRequestAfterBytes: 100 } },
      { match: { method: 'POST', pathIncludes: 'chunks/' }, times: 1, action: { resetAfterBytes: 10 } },
      { match: { method: 'POST', pathIncludes: 'chunks/' }, times: 1, action: { delayMs: 1500 } },
    );

    const started = Date.now();
    const backup = await run(['backup', '--reason', 'cloud faults']);
    // The GCS answer cut off mid-body is noticed at once, not after the minute-long stall guard.
    expect(Date.now() - started).toBeLessThan(55_000);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const record = backup.json<BackupRecord>();
    expect(record).toMatchObject({ type: 'full', missingCopies: [] });
    expect([...record.repositories].sort()).toEqual(['gcs', 's3']);

    // Every scripted fault fired: the rules are used up and the faulted requests are on record.
    expect(proxy.rules.map((rule) => rule.times)).toEqual([0, 0, 0]);
    expect(gcs.faults).toEqual([]);
    expect(proxy.requests.filter((request) => request.fault !== undefined)).toHaveLength(3);
    expect(gcsFaulted()).toHaveLength(4);
    expectS3Retried();
    expectGcsRetried();
    // A slow answer is waited for, not abandoned and sent again.
    // (The slow one may itself be the retry of a chunk faulted just before, so only later requests count.)
    const slow = proxy.requests.findIndex((request) => request.fault !== undefined && 'delayMs' in request.fault);
    expect(slow).toBeGreaterThanOrEqual(0);
    expect(proxy.requests.slice(slow + 1).filter((request) => request.method === 'PUT' && request.path === proxy.requests[slow]?.path)).toEqual([]);

    await expectBothVerify();
  });

  it('takes an incremental backup through a 503 on the manifest upload to each repository', async () => {
    resetFaults();
    await source.sql("UPDATE wedding_guests SET note = 'changed' WHERE id % 10 = 0");
    // The restores below take the newest backup, this incremental one, so this is what they must bring back.
    atBackup = await readDigest(source);
    proxy.rules.push({ match: { method: 'PUT', pathIncludes: '/backups/' }, times: 1, action: s3Error('SlowDown') });
    gcs.faults.push({ match: { method: 'POST', pathIncludes: 'backups/' }, times: 1, action: { status: 503 } });

    const incremental = await run(['backup', '--type', 'incremental']);
    expect(incremental.stderr).toBe('');
    expect(incremental.code).toBe(0);
    expect(incremental.json<BackupRecord & { nativeIncremental: boolean }>()).toMatchObject({ nativeIncremental: true, missingCopies: [] });
    expect(proxy.rules[0]?.times).toBe(0);
    expect(gcs.faults).toEqual([]);
    expectS3Retried();
    expectGcsRetried();
    await expectBothVerify();
  });

  it('restores from S3 alone through a 503 and a connection reset mid-download, into a cluster with the same data', async () => {
    resetFaults();
    proxy.rules.push(
      { match: { method: 'GET', pathIncludes: '/chunks/' }, times: 1, action: s3Error('ServiceUnavailable') },
      // Fewer bytes than the smallest sealed chunk has (its nonce and tag alone are more), so it always cuts.
      { match: { method: 'GET', pathIncludes: '/chunks/' }, times: 1, action: { resetAfterBytes: 10 } },
    );
    const { report, digest } = await restoreAndRead('s3');
    // Retried in S3 itself: no chunk had to come from the other repository.
    expect(report).toMatchObject({ from: 's3', fallbacks: [] });
    expect(digest).toEqual(atBackup);
    expect(proxy.rules.map((rule) => rule.times)).toEqual([0, 0]);
    expectS3Retried();
    // Restoring from S3 alone: GCS was not read for data.
    expect(gcs.requests.filter((request) => request.url.includes('chunks/'))).toEqual([]);
  });

  it('restores from GCS alone through a 503 and a body cut short mid-download, into a cluster with the same data', async () => {
    resetFaults();
    gcs.faults.push(
      { match: { method: 'GET', pathIncludes: 'chunks/' }, times: 1, action: { status: 503 } },
      { match: { method: 'GET', pathIncludes: 'chunks/' }, times: 1, action: { truncateTo: 10 } },
    );
    const started = Date.now();
    const { report, digest } = await restoreAndRead('gcs');
    // A cut-off answer is noticed when the connection closes, not after the minute-long stall guard.
    expect(Date.now() - started).toBeLessThan(55_000);
    expect(report).toMatchObject({ from: 'gcs', fallbacks: [] });
    expect(digest).toEqual(atBackup);
    expect(gcs.faults).toEqual([]);
    expect(gcsFaulted()).toHaveLength(2);
    expectGcsRetried();
    expect(proxy.requests.filter((request) => request.path.includes('/chunks/'))).toEqual([]);
  });

  it('passes a restore test read from GCS through a reset mid-download, and records it in both repositories', async () => {
    resetFaults();
    gcs.faults.push({ match: { method: 'GET', pathIncludes: 'chunks/' }, skip: 3, times: 1, action: { resetAfterBytes: 10 } });
    const result = await run(['restore-test', '--from', 'gcs']);
    expect(result.stderr).toBe('');
    const record = result.json<RestoreTestRecord>();
    expect(record.errorsFound).toEqual([]);
    expect(result.code).toBe(0);
    expect(record).toMatchObject({ success: true });
    expect(record.recordedIn.sort()).toEqual(['gcs', 's3']);
    expect(gcsFaulted()).toHaveLength(1);
    expectGcsRetried();
    // Recorded means written as an event object in each bucket.
    expect([...gcs.objects('drc-offsite').keys()].filter((name) => name.startsWith('wedsync/events/') && name.endsWith(record.id))).toHaveLength(1);
    expect(proxy.requests.some((request) => request.method === 'PUT' && request.path.includes('/wedsync/events/') && request.path.includes(record.id))).toBe(true);
  });

  it('fails a backup with BACKUP_FAILED, naming the chunk, when every chunk upload to S3 gets a 500; once S3 heals it verifies and backs up again', async () => {
    resetFaults();
    const backupIds = async (): Promise<string[]> => (await run(['list'], s3OnlyConfigPath)).json<{ backups: Array<{ id: string }> }>().backups.map((backup) => backup.id);
    const before = await backupIds();
    await source.sql("INSERT INTO wedding_guests (name) SELECT 'late ' || g FROM generate_series(1, 2000) g");
    proxy.rules.push({ match: { method: 'PUT', pathIncludes: '/chunks/' }, times: Number.MAX_SAFE_INTEGER, action: s3Error('InternalError') });

    const failed = await drc(['backup', '--config', s3OnlyConfigPath]);
    expect(failed.code).toBe(1);
    // The backup's own code (its wording depends on whether the chunk failed while streaming or at the commit),
    // with the repository's storage failure as the hint: which object, where, and why.
    expect(failed.stderr).toMatch(/^error BACKUP_FAILED: unable to (write|commit) (the )?backup.* to any repository$/m);
    expect(failed.stderr).toMatch(/^hint: s3: unable to write 'chunks\/[0-9a-f]{2}\/[0-9a-f]{64}' on repository 's3': injected by the test$/m);
    // And what the storage layer advises about it, passed on rather than lost.
    expect(failed.stderr).toMatch(/^hint: the storage did not answer correctly; the operation is retried automatically/m);
    // It gave up only after the whole retry budget on one chunk, not at the first 500.
    const putsPerChunk = new Map<string, number>();
    for (const request of proxy.requests) if (request.method === 'PUT' && request.path.includes('/chunks/')) putsPerChunk.set(request.path, (putsPerChunk.get(request.path) ?? 0) + 1);
    expect(Math.max(...putsPerChunk.values())).toBe(defaultRetryPolicy.attempts);

    proxy.rules.length = 0;
    // Consistent after the outage: no half-made backup listed, no lock left behind, every object whole.
    expect(await backupIds()).toEqual(before);
    await expectBothVerify();
    const next = await run(['backup', '--reason', 'after the outage'], s3OnlyConfigPath);
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
    expect(next.json<BackupRecord>()).toMatchObject({ repositories: ['s3'], missingCopies: [] });
    expect(await backupIds()).toEqual([...before, next.json<BackupRecord>().id]);
  });
});

describe('cloud repositories end to end with faults, PostgreSQL 15', () => {
  it('backs up to both through a reset mid-upload (S3) and a 500 (GCS), and restores from GCS through a 503 into the same data', async () => {
    const source = await startCluster({ major: 15 });
    const root = await makeTempDir('drc-cloud15-');
    const s3 = await startS3Server();
    await s3.bucket(bucket);
    const proxy = await startFaultProxy(s3.endpoint);
    const gcs = await startGcsServer({ bucket: 'drc-offsite' });
    try {
      process.env.DRC_TEST_S3_KEY = s3.accessKeyId;
      process.env.DRC_TEST_S3_SECRET = s3.secretAccessKey;
      const configPath = join(root, 'drc.json');
      await writeFile(
        configPath,
        JSON.stringify({
          cluster: { name: 'wedsync', host: source.connection.host, port: source.connection.port, user: source.connection.user, database: 'postgres' },
          encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
          stateDir: join(root, 'state'),
          repositories: [
            { name: 's3', type: 's3', bucket, prefix: 'wedsync', endpoint: proxy.url, forcePathStyle: true, accessKeyId: 'env:DRC_TEST_S3_KEY', secretAccessKey: 'env:DRC_TEST_S3_SECRET' },
            { name: 'gcs', type: 'gcs', bucket: 'drc-offsite', prefix: 'wedsync', apiEndpoint: gcs.url },
          ],
        }),
      );
      await source.sql('CREATE TABLE wedding_guests (id serial PRIMARY KEY, name text NOT NULL, rsvp boolean, note text)');
      await source.sql("INSERT INTO wedding_guests (name, rsvp, note) SELECT 'guest ' || g, g % 3 = 0, repeat('x', g % 200) FROM generate_series(1, 10000) g");
      const atBackup = await readDigest(source);
      expect((await drc(['repo', 'init', '--config', configPath, '--kdf-cost', '10'])).code).toBe(0);

      proxy.rules.push({ match: { method: 'PUT', pathIncludes: '/chunks/' }, times: 1, action: { dropRequestAfterBytes: 1000 } });
      gcs.faults.push({ match: { method: 'POST', pathIncludes: 'chunks/' }, times: 1, action: { status: 500 } });
      const backup = await drc(['backup', '--config', configPath, '--json']);
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      expect(backup.json<BackupRecord>()).toMatchObject({ missingCopies: [] });
      const [s3Faulted] = proxy.requests.filter((request) => request.fault !== undefined);
      const [gcsFaultedRequest] = gcs.requests.filter((request) => request.fault !== undefined);
      expect(proxy.requests.filter((request) => request.method === 'PUT' && request.path === s3Faulted?.path).length).toBeGreaterThan(1);
      expect(gcs.requests.filter((request) => request.method === 'POST' && request.url === gcsFaultedRequest?.url).length).toBeGreaterThan(1);

      gcs.faults.push({ match: { method: 'GET', pathIncludes: 'chunks/' }, times: 1, action: { status: 503 } });
      const target = join(root, 'restored');
      const restored = await drc(['restore', '--config', configPath, '--target-dir', target, '--immediate', '--from', 'gcs', '--json']);
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      expect(restored.json<RestoreReport>()).toMatchObject({ from: 'gcs', fallbacks: [] });
      expect(gcs.faults).toEqual([]);
      const copy = await startClusterFromDataDir(target, 15);
      await copy.promote().catch(() => undefined);
      expect(await readDigest(copy)).toEqual(atBackup);
      await copy.remove();
    } finally {
      await source.remove();
      await proxy.close();
      await s3.close();
      await gcs.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
