import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrcError } from '../../src/shared/errors.js';
import { formatLsn, parseLsn, segmentNumber, segmentStart, type Lsn } from '../../src/main/postgres/lsn.js';
import { ReplicationConnection, parseSizeSetting, versionNumber } from '../../src/main/postgres/replication/connection.js';
import { FrameReader, type FrameHandler } from '../../src/main/postgres/replication/frames.js';
import type { BaseBackupSink, BaseBackupStart, WalSink } from '../../src/main/postgres/replication/types.js';
import { PgServerError } from '../../src/main/postgres/replication/server-error.js';
import { makeTempDir, startCluster, startClusterFromDataDir, stopAllClusters, waitFor, type TestCluster, type TestMajor } from '../support/postgres.js';

const execFileAsync = promisify(execFile);

afterAll(async () => {
  await stopAllClusters();
});

// ---------------------------------------------------------------------------------------
// Frame reader: the same events whatever the chunking, and no copies of bulk payload.

const frame = (type: string, body: Buffer): Buffer => {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
};
const copyData = (subtype: string, ...parts: Buffer[]): Buffer => frame('d', Buffer.concat([Buffer.from(subtype), ...parts]));
const xlogHead = (start: bigint): Buffer => {
  const head = Buffer.alloc(24);
  head.writeBigUInt64BE(start, 0);
  head.writeBigUInt64BE(start + 1000n, 8);
  head.writeBigInt64BE(123456789n, 16);
  return head;
};
const patterned = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff));

const sampleStream = Buffer.concat([
  frame('S', Buffer.from('server_version\u000017.10\u0000')),
  frame('Z', Buffer.from('I')),
  copyData('n', Buffer.from('base.tar\u0000\u0000')),
  copyData('d', patterned(300, 1)),
  copyData('p', Buffer.from([0, 0, 0, 0, 0, 0, 1, 0])),
  copyData('d'), // empty payload
  copyData('w', xlogHead(0x1000000n), patterned(97, 2)),
  copyData('k', Buffer.alloc(17, 1)),
  frame('T', patterned(40, 3)),
  copyData('m'),
  copyData('d', patterned(5, 4)),
  frame('c', Buffer.alloc(0)),
]);

const bulkHeadLength = (subtype: number): number | undefined => (subtype === 0x64 ? 1 : subtype === 0x77 ? 25 : undefined);

/** Records what a FrameReader reports, normalizing bulk pieces back into whole payloads. */
function recorder(chunks: Buffer[], options: { async?: boolean } = {}) {
  const events: string[] = [];
  let bulk: { head: string; data: Buffer[]; length: number } | undefined;
  const copies: string[] = [];
  const flush = (): void => {
    if (bulk !== undefined) events.push(`bulk ${bulk.head} ${Buffer.concat(bulk.data).toString('hex')}`);
    bulk = undefined;
  };
  const fromChunk = (piece: Buffer): boolean => piece.length === 0 || chunks.some((chunk) => chunk.buffer === piece.buffer && piece.byteOffset >= chunk.byteOffset && piece.byteOffset + piece.length <= chunk.byteOffset + chunk.length);
  const maybeWait = (): void | Promise<void> => (options.async ? new Promise((done) => setImmediate(done)) : undefined);
  const handler: FrameHandler = {
    onMessage(type, body) {
      flush();
      events.push(`msg ${String.fromCharCode(type)} ${body.toString('hex')}`);
      return maybeWait();
    },
    onCopyPayload(head, piece, offset) {
      if (offset === 0) {
        flush();
        bulk = { head: head.toString('hex'), data: [], length: 0 };
      }
      if (bulk === undefined || offset !== bulk.length) throw new Error(`piece at ${String(offset)} out of order`);
      if (!fromChunk(piece)) copies.push(`${head.toString('hex')}@${String(offset)}`);
      bulk.data.push(Buffer.from(piece));
      bulk.length += piece.length;
      return maybeWait();
    },
  };
  return { handler, events: () => (flush(), events), copies };
}

/** Each chunk in a buffer of its own, so a slice can be traced back to its chunk. */
const ownBuffers = (parts: Buffer[]): Buffer[] => parts.map((part) => Buffer.from(Uint8Array.prototype.slice.call(part)));

async function feed(chunks: Buffer[], options: { async?: boolean } = {}) {
  const record = recorder(chunks, options);
  const reader = new FrameReader(record.handler, bulkHeadLength);
  for (const chunk of chunks) await reader.push(chunk);
  expect(reader.idle).toBe(true);
  return { events: record.events(), copies: record.copies };
}

describe('FrameReader', () => {
  it('reports whole messages as slices of the chunk', async () => {
    const chunks = ownBuffers([sampleStream]);
    const { events, copies } = await feed(chunks);
    expect(events).toHaveLength(12);
    expect(events[3]).toBe(`bulk 64 ${patterned(300, 1).toString('hex')}`);
    expect(events[5]).toBe('bulk 64 ');
    expect(events[6]).toBe(`bulk 77${xlogHead(0x1000000n).toString('hex')} ${patterned(97, 2).toString('hex')}`);
    expect(copies).toEqual([]);
  });

  it('reports the same events when the stream is split at every byte boundary, without copying bulk payload', async () => {
    const expected = (await feed(ownBuffers([sampleStream]))).events;
    for (let cut = 0; cut <= sampleStream.length; cut++) {
      const { events, copies } = await feed(ownBuffers([sampleStream.subarray(0, cut), sampleStream.subarray(cut)]));
      expect(events, `cut at ${String(cut)}`).toEqual(expected);
      expect(copies, `cut at ${String(cut)}`).toEqual([]);
    }
    const bytewise = await feed(ownBuffers(Array.from(sampleStream, (_, index) => sampleStream.subarray(index, index + 1))));
    expect(bytewise.events).toEqual(expected);
    expect(bytewise.copies).toEqual([]);
  });

  it('keeps order under backpressure with any chunking', async () => {
    const expected = (await feed(ownBuffers([sampleStream]))).events;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: sampleStream.length - 1 }), { maxLength: 30 }), async (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), sampleStream.length];
        const chunks = ownBuffers(points.slice(1).map((end, index) => sampleStream.subarray(points[index], end)));
        expect((await feed(chunks, { async: true })).events).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('waits for a pending handler before reading on', async () => {
    let release: () => void = () => undefined;
    const seen: string[] = [];
    const reader = new FrameReader(
      {
        onMessage: (type) => {
          seen.push(String.fromCharCode(type));
          if (seen.length === 1) return new Promise<void>((done) => (release = done));
          return undefined;
        },
        onCopyPayload: () => undefined,
      },
      bulkHeadLength,
    );
    const pending = reader.push(Buffer.concat([frame('A', Buffer.alloc(0)), frame('B', Buffer.alloc(0))]));
    expect(pending).toBeInstanceOf(Promise);
    expect(seen).toEqual(['A']);
    release();
    await pending;
    expect(seen).toEqual(['A', 'B']);
  });

  it('refuses a frame with an impossible length', () => {
    const reader = new FrameReader({ onMessage: () => undefined, onCopyPayload: () => undefined }, bulkHeadLength);
    expect(() => reader.push(Buffer.from([0x5a, 0, 0, 0, 2]))).toThrowError(/length 2/);
  });
});

describe('setting and version parsing', () => {
  it('reads sizes and versions as PostgreSQL prints them', () => {
    expect(parseSizeSetting('16MB')).toBe(16 * 1024 * 1024);
    expect(parseSizeSetting('1GB')).toBe(1024 ** 3);
    expect(parseSizeSetting('64kB')).toBe(65536);
    expect(versionNumber('17.10')).toBe(170010);
    expect(versionNumber('15.18 (Debian 15.18-0+deb12u1)')).toBe(150018);
    expect(versionNumber('18beta1')).toBe(180000);
    expect(versionNumber('9.6.24')).toBe(90624);
  });
});

// ---------------------------------------------------------------------------------------
// Against real servers.

it('fails with PG_CONNECT_FAILED, retryable, on a closed port', async () => {
  const error = await ReplicationConnection.connect({ host: '127.0.0.1', port: 1, user: 'postgres', database: 'postgres' }).catch((e: unknown) => e);
  expect(isDrcError(error, 'PG_CONNECT_FAILED')).toBe(true);
  expect((error as Error).message).toContain('127.0.0.1:1');
  expect((error as { retryable: boolean }).retryable).toBe(true);
});

it('fails with PG_CONNECT_FAILED when the server does not answer in time', async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  const { port } = silent.address() as AddressInfo;
  try {
    const error = await ReplicationConnection.connect({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(isDrcError(error, 'PG_CONNECT_FAILED')).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${String(port)}`);
    expect((error as Error).message).toContain('no answer within 200 ms');
  } finally {
    silent.close();
  }
});

it('fails with PG_PROTOCOL, not a hang, when the peer is not PostgreSQL', async () => {
  const http = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  const { port } = http.address() as AddressInfo;
  try {
    const error = await ReplicationConnection.connect({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' }).catch((e: unknown) => e);
    expect(isDrcError(error, 'PG_PROTOCOL'), String(error)).toBe(true);
  } finally {
    http.close();
  }
});

it('refuses a server older than 15 with PG_SERVER_UNSUPPORTED', async () => {
  // Just enough of a PostgreSQL 14 to log in: AuthenticationOk, server_version, ReadyForQuery.
  const old = createServer((socket) => {
    socket.once('data', () => {
      socket.write(Buffer.concat([frame('R', Buffer.from([0, 0, 0, 0])), frame('S', Buffer.from('server_version\u000014.12\u0000')), frame('Z', Buffer.from('I'))]));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((done) => old.listen(0, '127.0.0.1', done));
  const { port } = old.address() as AddressInfo;
  try {
    const error = await ReplicationConnection.connect({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' }).catch((e: unknown) => e);
    expect(isDrcError(error, 'PG_SERVER_UNSUPPORTED'), String(error)).toBe(true);
    expect((error as Error).message).toContain('14.12');
  } finally {
    old.close();
  }
});

const PASSWORD = 'se cr\'et';

interface TarEntry {
  readonly name: string;
  readonly type: string;
  readonly data: Buffer;
}

/** The entries of a ustar archive, as PostgreSQL writes them. */
function readTar(tar: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const text = (start: number, length: number): string => header.toString('utf8', start, start + length).replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    const prefix = text(345, 155);
    const name = prefix === '' ? text(0, 100) : `${prefix}/${text(0, 100)}`;
    entries.push({ name, type: text(156, 1) || '0', data: tar.subarray(offset + 512, offset + 512 + size) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

interface CollectedBackup {
  start: BaseBackupStart | undefined;
  archives: Map<string, Buffer[]>;
  manifest: Buffer[];
  progress: bigint[];
}

/** A sink that keeps everything, and yields to the event loop now and then (backpressure path). */
function collectingSink(): { sink: BaseBackupSink; collected: CollectedBackup } {
  const collected: CollectedBackup = { start: undefined, archives: new Map(), manifest: [], progress: [] };
  let current: Buffer[] = [];
  let calls = 0;
  const sometimesLater = (): void | Promise<void> => (++calls % 7 === 0 ? new Promise((done) => setImmediate(done)) : undefined);
  return {
    collected,
    sink: {
      onStart: (start) => {
        collected.start = start;
      },
      onArchive: (name) => {
        current = [];
        collected.archives.set(name, current);
      },
      onArchiveData: (data) => {
        current.push(data);
        return sometimesLater();
      },
      onProgress: (bytes) => {
        collected.progress.push(bytes);
      },
      onManifestData: (data) => {
        collected.manifest.push(data);
        return sometimesLater();
      },
    },
  };
}

const tarBytesOutsidePgWal = (entries: TarEntry[]): number => entries.filter((entry) => !entry.name.startsWith('pg_wal/')).reduce((sum, entry) => sum + 512 + entry.data.length, 0);

describe.each([15, 16, 17, 18] as const)('replication protocol against PostgreSQL %i', (major: TestMajor) => {
  let cluster: TestCluster;
  let connection: ReplicationConnection;
  let fullBackup: { collected: CollectedBackup; base: TarEntry[]; manifest: Buffer; baseTar: Buffer; endLsn: Lsn };
  const connect = (user: string, password: string | undefined) =>
    ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user, database: 'postgres', applicationName: 'drc-test', ...(password === undefined ? {} : { password }) });

  beforeAll(async () => {
    cluster = await startCluster({
      major,
      auth: 'scram-sha-256',
      password: PASSWORD,
      hba: ['host all md5user 127.0.0.1/32 md5', 'host all clearuser 127.0.0.1/32 password', 'host all trustuser 127.0.0.1/32 trust', 'host all rejected 127.0.0.1/32 reject'],
    });
    await cluster.sql(`
      SET client_min_messages = error;
      CREATE ROLE norepl LOGIN PASSWORD 'pw';
      CREATE ROLE clearuser LOGIN REPLICATION PASSWORD 'clear';
      CREATE ROLE trustuser LOGIN REPLICATION;
      CREATE ROLE rejected LOGIN REPLICATION PASSWORD 'pw';
      SET password_encryption = 'md5';
      CREATE ROLE md5user LOGIN REPLICATION PASSWORD 'md5pass';
    `);
    connection = await connect('postgres', PASSWORD);
  }, 120_000);

  afterAll(async () => {
    await connection?.close();
    await cluster?.remove();
  });

  it('logs in with SCRAM-SHA-256 and reports the server version', () => {
    expect(Math.floor(connection.serverVersion / 10000)).toBe(major);
  });

  it('logs in with md5, cleartext password and trust', async () => {
    for (const [user, password] of [['md5user', 'md5pass'], ['clearuser', 'clear'], ['trustuser', undefined]] as const) {
      const other = await connect(user, password);
      expect((await other.identifySystem()).timeline).toBe(1);
      await other.close();
    }
  });

  it('fails with PG_AUTH_FAILED on a wrong password (SCRAM and md5)', async () => {
    for (const user of ['postgres', 'md5user']) {
      const error = await connect(user, 'wrong').catch((e: unknown) => e);
      expect(isDrcError(error, 'PG_AUTH_FAILED'), String(error)).toBe(true);
      expect((error as PgServerError).sqlState).toBe('28P01');
    }
    const missing = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' }).catch((e: unknown) => e);
    expect(isDrcError(missing, 'PG_AUTH_FAILED')).toBe(true);
  });

  it('fails with PG_REPLICATION_REFUSED for a role without REPLICATION, or a pg_hba.conf refusal', async () => {
    const noAttribute = await connect('norepl', 'pw').catch((e: unknown) => e);
    expect(isDrcError(noAttribute, 'PG_REPLICATION_REFUSED'), String(noAttribute)).toBe(true);
    expect((noAttribute as PgServerError).sqlState).toBe('42501');
    expect((noAttribute as PgServerError).hints.join(' ')).toMatch(/REPLICATION/);
    const refused = await connect('rejected', 'pw').catch((e: unknown) => e);
    expect(isDrcError(refused, 'PG_REPLICATION_REFUSED'), String(refused)).toBe(true);
    expect((refused as PgServerError).hints.join(' ')).toMatch(/pg_hba\.conf/);
  });

  it('runs one command at a time', async () => {
    const [first, second] = await Promise.allSettled([connection.identifySystem(), connection.identifySystem()]);
    expect(first.status).toBe('fulfilled');
    expect(second.status === 'rejected' && isDrcError(second.reason, 'USAGE')).toBe(true);
  });

  it('identifies the system as pg_control does', async () => {
    const identity = await connection.identifySystem();
    const [control] = await cluster.sql<{ system_identifier: string }>('SELECT system_identifier::text FROM pg_control_system()');
    expect(identity.systemId).toBe(control?.system_identifier);
    expect(identity.timeline).toBe(1);
    expect(identity.walPosition).toBeGreaterThan(0n);
  });

  it('shows settings, and the WAL segment size in bytes', async () => {
    expect(await connection.show('wal_segment_size')).toBe('16MB');
    expect(await connection.walSegmentSizeBytes()).toBe(16 * 1024 * 1024);
    expect(await connection.query('SELECT 1 AS one, NULL AS nothing')).toEqual([{ one: '1', nothing: null }]);
  });

  it('creates a physical slot once, finds it after, and drops it', async () => {
    const created = await connection.ensurePhysicalSlot('drc_slot_test');
    expect(created.restartLsn).toBeGreaterThan(0n);
    expect(created.timeline).toBe(1);
    const rows = await cluster.sql<{ slot_type: string; restart_lsn: string }>("SELECT slot_type, restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'drc_slot_test'");
    expect(rows).toEqual([{ slot_type: 'physical', restart_lsn: formatLsn(created.restartLsn ?? 0n) }]);
    expect(await connection.ensurePhysicalSlot('drc_slot_test')).toEqual(created);
    await connection.dropSlot('drc_slot_test');
    expect(await connection.readReplicationSlot('drc_slot_test')).toBeUndefined();
    await expect(connection.dropSlot('Not-A-Slot')).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('takes a full base backup: tar with PG_VERSION, pg_control, backup_label, WAL, and a manifest', async () => {
    const { sink, collected } = collectingSink();
    const end = await connection.baseBackup({ label: "drc test's full", fastCheckpoint: true, includeWal: true }, sink);
    expect(collected.start?.timeline).toBe(1);
    expect(end.timeline).toBe(1);
    expect(end.endLsn).toBeGreaterThan(collected.start?.startLsn ?? end.endLsn);
    expect(collected.start?.tablespaces).toEqual([{ oid: undefined, location: undefined, sizeKiB: expect.any(Number) as number }]);
    expect([...collected.archives.keys()]).toEqual(['base.tar']);
    const baseTar = Buffer.concat(collected.archives.get('base.tar') ?? []);
    const base = readTar(baseTar);
    const names = new Set(base.map((entry) => entry.name));
    for (const name of ['PG_VERSION', 'global/pg_control', 'backup_label']) expect(names, name).toContain(name);
    expect(base.find((entry) => entry.name === 'PG_VERSION')?.data.toString().trim()).toBe(String(major));
    expect(base.find((entry) => entry.name === 'backup_label')?.data.toString()).toContain("LABEL: drc test's full");
    expect(base.some((entry) => /^pg_wal\/[0-9A-F]{24}$/.test(entry.name))).toBe(true);
    expect(collected.progress.at(-1)).toBeGreaterThan(0n);

    const manifest = Buffer.concat(collected.manifest);
    const parsed = JSON.parse(manifest.toString('utf8')) as { Files: Array<{ Path: string; Size: number; 'Checksum-Algorithm': string }>; 'WAL-Ranges': unknown[] };
    const controlEntry = parsed.Files.find((file) => file.Path === 'global/pg_control');
    expect(controlEntry?.Size).toBe(8192);
    expect(controlEntry?.['Checksum-Algorithm']).toBe('CRC32C');
    const pgVersion = parsed.Files.find((file) => file.Path === 'PG_VERSION');
    expect(pgVersion?.Size).toBe(base.find((entry) => entry.name === 'PG_VERSION')?.data.length);
    expect(parsed['WAL-Ranges']).toHaveLength(1);
    fullBackup = { collected, base, manifest, baseTar, endLsn: end.endLsn };
  });

  it.runIf(major >= 17)('takes an incremental backup against the full one (17+)', async () => {
    await cluster.sql('CREATE TABLE after_full AS SELECT g, md5(g::text) AS h FROM generate_series(1, 5000) g');
    const { sink, collected } = collectingSink();
    const end = await connection.baseBackup({ label: 'drc test incremental', fastCheckpoint: true, includeWal: false, incrementalFrom: fullBackup.manifest }, sink);
    expect(end.endLsn).toBeGreaterThan(fullBackup.endLsn);
    const base = readTar(Buffer.concat(collected.archives.get('base.tar') ?? []));
    const incrementalFiles = base.filter((entry) => /(^|\/)INCREMENTAL\.\d+/.test(entry.name));
    expect(incrementalFiles.length).toBeGreaterThan(10);
    const incrementalBytes = tarBytesOutsidePgWal(base);
    expect(incrementalBytes).toBeLessThan(tarBytesOutsidePgWal(fullBackup.base) / 4);
    expect(JSON.parse(Buffer.concat(collected.manifest).toString('utf8'))).toHaveProperty('Files');
  });

  it.runIf(major < 17)('refuses an incremental backup before 17 with PG_SERVER_UNSUPPORTED', async () => {
    const { sink } = collectingSink();
    await expect(connection.baseBackup({ label: 'x', fastCheckpoint: true, includeWal: false, incrementalFrom: fullBackup.manifest }, sink)).rejects.toMatchObject({ code: 'PG_SERVER_UNSUPPORTED' });
  });

  it('streams WAL through a slot across a segment switch, and confirm() moves the slot', async () => {
    const segmentSize = await connection.walSegmentSizeBytes();
    const slot = await connection.ensurePhysicalSlot('drc_stream_test');
    const from = segmentStart(segmentNumber(slot.restartLsn ?? 0n, segmentSize), segmentSize);
    let next: Lsn = from;
    const gaps: string[] = [];
    const positions: Lsn[] = [];
    const sink: WalSink = {
      onWalData: (start, data) => {
        if (start !== next) gaps.push(`${formatLsn(start)} after ${formatLsn(next)}`);
        next = start + BigInt(data.length);
        return data.length > 100_000 ? new Promise((done) => setImmediate(done)) : undefined;
      },
      onServerPosition: (serverEnd) => {
        positions.push(serverEnd);
      },
    };
    const stream = connection.startReplication('drc_stream_test', from, 1, sink);
    await cluster.sql('CREATE TABLE streamed AS SELECT g FROM generate_series(1, 20000) g');
    const [switched] = await cluster.sql<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    const boundary = segmentStart(segmentNumber(parseLsn(switched?.lsn ?? '0/0'), segmentSize) + 1n, segmentSize);
    await cluster.sql('INSERT INTO streamed SELECT g FROM generate_series(1, 1000) g');
    const deadline = Date.now() + 30_000;
    while (next <= boundary && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    expect(gaps).toEqual([]);
    expect(next).toBeGreaterThan(boundary);
    expect(positions.length).toBeGreaterThan(0);

    stream.confirm(boundary);
    await waitFor(cluster, `SELECT restart_lsn >= '${formatLsn(boundary)}'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'drc_stream_test'`, { timeoutMs: 20_000 });
    await stream.stop();
    await expect(stream.finished).resolves.toEqual({});
    // The connection is usable again after the stream.
    expect((await connection.identifySystem()).timeline).toBe(1);
    await connection.dropSlot('drc_stream_test');
  });

  it('stops a stream asked to stop before streaming began', async () => {
    const { walPosition, timeline } = await connection.identifySystem();
    const stream = connection.startReplication(undefined, walPosition, timeline, { onWalData: () => undefined });
    await stream.stop();
    await expect(stream.finished).resolves.toEqual({});
  });

  it('reports a walsender terminated mid-stream as a retryable PG_CONNECT_FAILED', async () => {
    const other = await connect('postgres', PASSWORD);
    const { walPosition, timeline } = await other.identifySystem();
    const stream = other.startReplication(undefined, walPosition, timeline, { onWalData: () => undefined });
    await waitFor(cluster, "SELECT count(*) = 1 FROM pg_stat_replication WHERE state = 'streaming'");
    await cluster.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE state = 'streaming'");
    const error = await stream.finished.catch((e: unknown) => e);
    expect(isDrcError(error, 'PG_CONNECT_FAILED'), String(error)).toBe(true);
    expect((error as PgServerError).sqlState).toBe('57P01');
    expect((error as PgServerError).retryable).toBe(true);
    await stream.stop();
    await expect(other.identifySystem()).rejects.toMatchObject({ code: 'PG_CONNECT_FAILED' });
    await other.close();
  });

  it("fails a base backup with the sink's own error, and closes that connection", async () => {
    const other = await connect('postgres', PASSWORD);
    const { sink } = collectingSink();
    const failure = new Error('repository full');
    const error = await other.baseBackup({ label: 'doomed', fastCheckpoint: true, includeWal: false }, { ...sink, onArchiveData: () => Promise.reject(failure) }).catch((e: unknown) => e);
    expect(error).toBe(failure);
    await expect(other.identifySystem()).rejects.toMatchObject({ code: 'PG_CONNECT_FAILED' });
    await other.close();
    // The server side ends too: no backup stays in progress.
    await waitFor(cluster, 'SELECT count(*) = 0 FROM pg_stat_progress_basebackup');
  });

  it('follows a timeline switch: history file, and a historic stream that names the next timeline', async () => {
    const restoreRoot = await makeTempDir();
    const dataDir = join(restoreRoot, 'data');
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(restoreRoot, 'base.tar'), fullBackup.baseTar);
    await execFileAsync('tar', ['-xf', join(restoreRoot, 'base.tar'), '-C', dataDir]);
    await rm(join(restoreRoot, 'base.tar'));
    await writeFile(join(dataDir, 'standby.signal'), '');
    const standby = await startClusterFromDataDir(dataDir, major, { password: PASSWORD });
    try {
      await standby.promote();
      const promoted = await ReplicationConnection.connect({ ...standby.connection, password: PASSWORD });
      try {
        expect((await promoted.identifySystem()).timeline).toBe(2);
        const history = await promoted.timelineHistory(2);
        expect(history.fileName).toBe('00000002.history');
        const match = /^1\t([0-9A-F]+\/[0-9A-F]+)\t/.exec(history.content.toString('utf8'));
        expect(match?.[1]).toBeDefined();
        const switchpoint = parseLsn(match?.[1] ?? '0/0');

        const segmentSize = await promoted.walSegmentSizeBytes();
        const from = segmentStart(segmentNumber(switchpoint, segmentSize), segmentSize);
        let next: Lsn = from;
        const stream = promoted.startReplication(undefined, from, 1, {
          onWalData: (start, data) => {
            expect(start).toBe(next);
            next = start + BigInt(data.length);
          },
        });
        const end = await stream.finished;
        expect(end.nextTimeline).toEqual({ timeline: 2, startLsn: switchpoint });
        expect(next).toBe(switchpoint);
        await stream.stop();
      } finally {
        await promoted.close();
      }
    } finally {
      await standby.remove();
      await rm(restoreRoot, { recursive: true, force: true });
    }
  });
});

describe('test harness (test/support/postgres.ts)', () => {
  it('survives kill() (crash recovery on start), stop() and start() on the same port', async () => {
    const cluster = await startCluster({ major: 15 });
    try {
      await cluster.sql('CREATE TABLE survivor AS SELECT 42 AS answer');
      const port = cluster.port;
      await cluster.kill();
      expect(cluster.running).toBe(false);
      await expect(cluster.sql('SELECT 1')).rejects.toThrow();
      await cluster.start();
      expect(cluster.port).toBe(port);
      expect(await cluster.sql('SELECT answer FROM survivor')).toEqual([{ answer: 42 }]);
      await cluster.stop();
      expect(cluster.running).toBe(false);
      await cluster.start();
      await waitFor(cluster, 'SELECT count(*) = 1 FROM survivor');
    } finally {
      await cluster.remove();
    }
  });
});
