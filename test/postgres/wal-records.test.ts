import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrcError } from '../../src/shared/errors.js';
import { formatLsn, parseLsn, parseSegmentFileName, segmentFileName, segmentNumber, segmentStart, type Lsn } from '../../src/main/postgres/lsn.js';
import { WAL_PAGE_MAGIC_MAJOR, WAL_PAGE_SIZE } from '../../src/main/postgres/wal/page.js';
import type { WalEvent } from '../../src/main/postgres/wal/events.js';
import { WalReader, type ContinuedRecord } from '../../src/main/postgres/wal/reader.js';
import { summarizeSegment } from '../../src/main/postgres/wal/segment.js';
import { startCluster, stopAllClusters, waitFor, type TestCluster, type TestMajor } from '../support/postgres.js';

/**
 * The WAL reader against WAL written by real servers of each supported major: a known
 * workload (commits with their xids and commit timestamps, an abort, prepared
 * transactions, a restore point, a checkpoint, a segment switch, records spanning pages
 * and a segment boundary, then a promotion), read back from pg_wal and compared with what
 * the server says.
 */

const MAJORS: TestMajor[] = [15, 16, 17, 18];
/** XLOG_PAGE_MAGIC as each major's xlog_internal.h defines it. */
const EXPECTED_MAGIC: Record<TestMajor, number> = { 15: 0xd110, 16: 0xd113, 17: 0xd116, 18: 0xd118 };

interface KnownTransaction {
  readonly xid: number;
  /** pg_current_wal_insert_lsn() before the transaction ended, and after. */
  readonly before: Lsn;
  readonly after: Lsn;
  /** From pg_xact_commit_timestamp(), in µs since 1970 (commits only). */
  micros?: number;
}

interface Workload {
  readonly segmentSize: number;
  readonly commits: KnownTransaction[];
  readonly aborts: KnownTransaction[];
  readonly spanningCommit: KnownTransaction;
  readonly restorePoint: { readonly lsn: Lsn; readonly before: Date; readonly after: Date };
  readonly checkpoint: { readonly lsn: Lsn; readonly timeline: number; readonly time: Date };
  readonly switchEnd: Lsn;
  /** Complete segment files, in order, from the first one in pg_wal to the one ended by the last switch. */
  readonly segments: Array<{ readonly start: Lsn; readonly data: Buffer }>;
  /** The segment being written, copied while the server runs, and what the server said around the copy. */
  readonly current: { readonly start: Lsn; readonly data: Buffer; readonly commits: KnownTransaction[]; readonly insertAfterCopy: Lsn };
}

async function one<Row>(client: pg.Client, text: string, params?: unknown[]): Promise<Row> {
  const rows = (await client.query(text, params)).rows as Row[];
  const row = rows[0];
  if (row === undefined) throw new Error(`no row from: ${text}`);
  return row;
}

const insertLsn = async (client: pg.Client): Promise<Lsn> => parseLsn((await one<{ lsn: string }>(client, 'SELECT pg_current_wal_insert_lsn()::text AS lsn')).lsn);
const currentXid = async (client: pg.Client): Promise<number> => Number((await one<{ xid: string }>(client, 'SELECT (txid_current() % 4294967296)::text AS xid')).xid);

/** Runs `work` in a transaction and ends it with `end` (COMMIT, ROLLBACK, or PREPARE TRANSACTION then its COMMIT/ROLLBACK PREPARED). */
async function transaction(client: pg.Client, work: () => Promise<void>, end: string[]): Promise<KnownTransaction> {
  await client.query('BEGIN');
  await work();
  const xid = await currentXid(client);
  const before = await insertLsn(client);
  for (const statement of end) await client.query(statement);
  return { xid, before, after: await insertLsn(client) };
}

async function commitBatch(client: pg.Client, batch: number): Promise<KnownTransaction> {
  return transaction(client, async () => {
    await client.query("INSERT INTO items (batch, payload) SELECT $1, repeat(md5(g::text), 4) FROM generate_series(1, 30) g", [batch]);
  }, ['COMMIT']);
}

async function segmentFiles(cluster: TestCluster, segmentSize: number): Promise<Array<{ name: string; start: Lsn }>> {
  const names = (await readdir(join(cluster.dataDir, 'pg_wal'))).filter((name) => /^00000001[0-9A-F]{16}$/.test(name)).sort();
  return names.map((name) => {
    const parsed = parseSegmentFileName(name, segmentSize);
    if (parsed === undefined) throw new Error(`not a segment file: ${name}`);
    return { name, start: segmentStart(parsed.segment, segmentSize) };
  });
}

async function runWorkload(cluster: TestCluster): Promise<Workload> {
  const client = new pg.Client(cluster.connection);
  await client.connect();
  try {
    const segmentSize = Number((await one<{ setting: string }>(client, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")).setting);
    await client.query('CREATE TABLE items (id serial PRIMARY KEY, batch int, payload text)');
    await client.query('CREATE TABLE wide (v text)');
    await client.query('ALTER TABLE wide ALTER COLUMN v SET STORAGE PLAIN');
    await client.query('CREATE TABLE victim (x int)');

    const commits: KnownTransaction[] = [];
    const aborts: KnownTransaction[] = [];
    for (let batch = 1; batch <= 20; batch++) commits.push(await commitBatch(client, batch));

    aborts.push(await transaction(client, async () => void (await client.query("INSERT INTO items (batch, payload) VALUES (-2, 'rolled back')")), ['ROLLBACK']));

    const rpBefore = (await one<{ now: Date }>(client, 'SELECT clock_timestamp() AS now')).now;
    const rp = await one<{ lsn: string }>(client, "SELECT pg_create_restore_point('before-delete')::text AS lsn");
    const rpAfter = (await one<{ now: Date }>(client, 'SELECT clock_timestamp() AS now')).now;

    // A row of ~7,000 bytes stored inline: its insert record spans a page boundary.
    commits.push(await transaction(client, async () => void (await client.query("INSERT INTO wide VALUES (repeat('w', 7000))")), ['COMMIT']));

    // A commit record listing 2,000 subtransactions (8 KB), placed so that it straddles a segment boundary.
    const spanningCommit = await transaction(
      client,
      async () => {
        await client.query("DO $$ BEGIN FOR i IN 1..2000 LOOP BEGIN INSERT INTO items (batch, payload) VALUES (-1, 'sub'); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$");
        for (;;) {
          const distance = segmentSize - Number((await insertLsn(client)) % BigInt(segmentSize));
          if (distance >= 1024 && distance <= 6144) break;
          // A padding message of n bytes takes n plus a record header plus 24 bytes per page crossed.
          const pad = distance > 6144 ? Math.min(distance - 4096 - Math.ceil(distance / WAL_PAGE_SIZE) * 24 - 128, 1 << 20) : distance + 4096;
          await client.query("SELECT pg_logical_emit_message(false, 'drc-test-padding', repeat('x', $1))", [Math.max(pad, 1)]);
        }
      },
      ['COMMIT'],
    );
    commits.push(spanningCommit);

    // Two-phase: COMMIT PREPARED of a DROP TABLE (its record lists dropped files, dropped stats and invalidations before the
    // prepared xid) and ROLLBACK PREPARED of a CREATE TABLE (dropped files and stats).
    commits.push(await transaction(client, async () => void (await client.query('DROP TABLE victim')), ["PREPARE TRANSACTION 'drc-drop'", "COMMIT PREPARED 'drc-drop'"]));
    aborts.push(await transaction(client, async () => void (await client.query('CREATE TABLE never (x int)')), ["PREPARE TRANSACTION 'drc-never'", "ROLLBACK PREPARED 'drc-never'"]));

    await client.query('CHECKPOINT');
    const checkpoint = await one<{ lsn: string; timeline: number; time: Date }>(client, 'SELECT checkpoint_lsn::text AS lsn, timeline_id AS timeline, checkpoint_time AS time FROM pg_control_checkpoint()');
    const switchEnd = parseLsn((await one<{ lsn: string }>(client, 'SELECT pg_switch_wal()::text AS lsn')).lsn);

    for (let batch = 21; batch <= 25; batch++) commits.push(await commitBatch(client, batch));
    const lastSwitch = parseLsn((await one<{ lsn: string }>(client, 'SELECT pg_switch_wal()::text AS lsn')).lsn);

    for (const known of commits) {
      const row = await one<{ micros: string | null }>(client, 'SELECT (extract(epoch FROM pg_xact_commit_timestamp($1::text::xid)) * 1000000)::bigint::text AS micros', [String(known.xid)]);
      known.micros = Number(row.micros);
    }

    const lastSegment = (lastSwitch - 1n) / BigInt(segmentSize);
    const files = await segmentFiles(cluster, segmentSize);
    const segments: Workload['segments'] = [];
    for (const file of files) {
      if (file.start > lastSegment * BigInt(segmentSize)) break;
      segments.push({ start: file.start, data: await readFile(join(cluster.dataDir, 'pg_wal', file.name)) });
    }

    // The segment being written: commits, then a copy of the file while the server runs.
    const currentCommits: KnownTransaction[] = [];
    for (let batch = 26; batch <= 30; batch++) currentCommits.push(await commitBatch(client, batch));
    const { file } = await one<{ file: string }>(client, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS file');
    const data = await readFile(join(cluster.dataDir, 'pg_wal', file));
    const insertAfterCopy = await insertLsn(client);
    const parsed = parseSegmentFileName(file, segmentSize);
    if (parsed === undefined) throw new Error(`not a segment file: ${file}`);

    return {
      segmentSize,
      commits,
      aborts,
      spanningCommit,
      restorePoint: { lsn: parseLsn(rp.lsn), before: rpBefore, after: rpAfter },
      checkpoint: { lsn: parseLsn(checkpoint.lsn), timeline: checkpoint.timeline, time: checkpoint.time },
      switchEnd,
      segments,
      current: { start: segmentStart(parsed.segment, segmentSize), data, commits: currentCommits, insertAfterCopy },
    };
  } finally {
    await client.end();
  }
}

/** Reads segments in order, each completing the record the one before handed over, as `wal push` does. */
function readSegments(segments: Workload['segments'], segmentSize: number): { events: WalEvent[]; handovers: Array<ContinuedRecord | undefined>; ended: boolean } {
  const events: WalEvent[] = [];
  /** The record each segment was given to complete. */
  const handovers: Array<ContinuedRecord | undefined> = [];
  let continuing: ContinuedRecord | undefined;
  let ended = false;
  for (const segment of segments) {
    handovers.push(continuing);
    const summary = summarizeSegment(segment.data, segment.start, segmentSize, continuing);
    events.push(...summary.events);
    continuing = JSON.parse(JSON.stringify(summary.continuedRecord ?? null)) as ContinuedRecord | null ?? undefined;
    ended = summary.ended;
  }
  return { events, handovers, ended };
}

/** A reader that goes on where `reader` stands, at a segment boundary, as another process would. */
const handOver = (reader: WalReader, segmentSize: number): WalReader => {
  const continuing = reader.continuedRecord();
  return new WalReader({ segmentSize, startLsn: reader.nextLsn, ...(continuing === undefined ? {} : { continuing: JSON.parse(JSON.stringify(continuing)) as ContinuedRecord }) });
};

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const microsOf = (date: Date): number => date.getTime() * 1000;

afterAll(async () => {
  await stopAllClusters();
});

describe.each(MAJORS)('WAL records of PostgreSQL %i', (major) => {
  let cluster: TestCluster | undefined;
  let work: Workload;
  let events: WalEvent[];

  beforeAll(async () => {
    cluster = await startCluster({
      major,
      settings: { track_commit_timestamp: 'on', max_prepared_transactions: '5', wal_keep_size: "'1GB'", autovacuum: 'off' },
    });
    work = await runWorkload(cluster);
    const read = readSegments(work.segments, work.segmentSize);
    events = read.events;
    expect(read.ended).toBe(false);
  }, 180_000);

  afterAll(async () => {
    await cluster?.remove();
  });

  it('recognizes the page magic of this major', () => {
    const first = work.segments[0];
    if (first === undefined) throw new Error('no segments');
    const reader = new WalReader({ segmentSize: work.segmentSize, startLsn: first.start });
    expect(reader.major).toBeUndefined();
    reader.push(first.data.subarray(0, WAL_PAGE_SIZE));
    expect(reader.major).toBe(major);
    expect(first.data.readUInt16LE(0)).toBe(EXPECTED_MAGIC[major]);
    expect(WAL_PAGE_MAGIC_MAJOR.get(EXPECTED_MAGIC[major])).toBe(major);
  });

  it('finds every commit with its xid and the exact commit timestamp, between the LSNs around it', () => {
    const commits = new Map(events.filter((event) => event.kind === 'commit').map((event) => [event.xid, event]));
    for (const known of work.commits) {
      const event = commits.get(known.xid);
      expect(event, `commit of xid ${String(known.xid)}`).toBeDefined();
      if (event === undefined) continue;
      expect(event.timeMicros).toBe(known.micros);
      expect(event.time?.getTime()).toBe(Math.floor((known.micros ?? 0) / 1000));
      expect(event.lsn).toBeGreaterThanOrEqual(known.before);
      expect(event.endLsn).toBeLessThanOrEqual(known.after);
    }
  });

  it('reads a commit record that straddles a segment boundary', () => {
    const event = events.find((each) => each.kind === 'commit' && each.xid === work.spanningCommit.xid);
    expect(event).toBeDefined();
    if (event === undefined) return;
    const size = BigInt(work.segmentSize);
    expect(event.endLsn / size).toBe(event.lsn / size + 1n);
    expect(event.endLsn - event.lsn).toBeGreaterThan(8000n);
  });

  it('finds the aborts, plain and prepared, with their xids', () => {
    for (const known of work.aborts) {
      const event = events.find((each) => each.kind === 'abort' && each.xid === known.xid);
      expect(event, `abort of xid ${String(known.xid)}`).toBeDefined();
      expect(event?.lsn).toBeGreaterThanOrEqual(known.before);
      expect(event?.endLsn).toBeLessThanOrEqual(known.after);
    }
  });

  it('finds the restore point: its name, its time, and the LSN the server returned as its end', () => {
    const points = events.filter((event) => event.kind === 'restore-point');
    expect(points).toHaveLength(1);
    const point = points[0];
    expect(point?.name).toBe('before-delete');
    expect(point?.endLsn).toBe(work.restorePoint.lsn);
    expect(point?.timeMicros).toBeGreaterThanOrEqual(microsOf(work.restorePoint.before));
    expect(point?.timeMicros).toBeLessThanOrEqual(microsOf(work.restorePoint.after) + 999);
  });

  it('finds the checkpoint pg_control names, with its timeline and time', () => {
    const event = events.find((each) => each.lsn === work.checkpoint.lsn);
    expect(event).toMatchObject({ kind: 'checkpoint', timeline: work.checkpoint.timeline, time: work.checkpoint.time });
  });

  it('reports the switch at the LSN pg_switch_wal() returned and goes on in the next segment', () => {
    const event = events.find((each) => each.kind === 'switch' && each.endLsn === work.switchEnd);
    expect(event).toBeDefined();
    const size = BigInt(work.segmentSize);
    const next = events.find((each) => each.lsn > work.switchEnd);
    expect(next?.lsn).toBeGreaterThanOrEqual(((work.switchEnd + size - 1n) / size) * size);
  });

  it('returns events in LSN order', () => {
    for (let i = 1; i < events.length; i++) {
      const previous = events[i - 1];
      const current = events[i];
      if (previous === undefined || current === undefined) continue;
      expect(current.lsn).toBeGreaterThanOrEqual(previous.endLsn);
    }
  });

  it('gives the same events for the same bytes pushed in random pieces, handed over to a new reader at segment boundaries', () => {
    const all = Buffer.concat(work.segments.map((segment) => segment.data));
    const first = work.segments[0];
    if (first === undefined) throw new Error('no segments');
    const next = random(major);
    let reader = new WalReader({ segmentSize: work.segmentSize, startLsn: first.start });
    const pieces: WalEvent[] = [];
    for (let at = 0; at < all.length; ) {
      // Log-uniform sizes from 1 byte to 1 MiB: many tiny pieces, and enough big ones to get through the data.
      const size = Math.min(all.length - at, Math.floor(Math.exp(next() * Math.log(1 << 20))));
      // Pieces stop at segment boundaries, where half the time a new reader takes over.
      const toBoundary = work.segmentSize - (at % work.segmentSize);
      const take = Math.max(1, Math.min(size, toBoundary));
      pieces.push(...reader.push(all.subarray(at, at + take)));
      at += take;
      expect(reader.nextLsn).toBe(first.start + BigInt(at));
      if (at % work.segmentSize === 0 && at < all.length && next() < 0.5) reader = handOver(reader, work.segmentSize);
    }
    expect(pieces).toEqual(events);
    expect(reader.ended).toBe(false);
  });

  it('gives the same events when cut inside every page header and event record header around the segment boundary, handed over there', () => {
    const all = Buffer.concat(work.segments.map((segment) => segment.data));
    const first = work.segments[0];
    const spanning = events.find((each) => each.kind === 'commit' && each.xid === work.spanningCommit.xid);
    if (first === undefined || spanning === undefined) throw new Error('no segments, or no spanning commit');
    // Whole pages from a little before the straddling commit to a little after it, starting inside the padding record.
    const pageSize = BigInt(WAL_PAGE_SIZE);
    const from = (spanning.lsn / pageSize - 2n) * pageSize;
    const to = (spanning.endLsn / pageSize + 5n) * pageSize;
    const expected = events.filter((each) => each.lsn >= from && each.endLsn <= to);
    const cuts = new Set<bigint>([to]);
    // Inside every page header (short and long) and every event's record header, then random cuts 1 to 97 bytes apart.
    for (let page = from; page < to; page += pageSize) for (const k of [1n, 4n, 13n, 23n, 31n]) cuts.add(page + k);
    for (const event of expected) for (const k of [1n, 4n, 9n, 21n, 30n]) cuts.add(event.lsn + k);
    const next = random(1000 + major);
    for (let at = from; at < to; at += BigInt(1 + Math.floor(next() * 97))) cuts.add(at);
    cuts.delete(from);

    let reader = new WalReader({ segmentSize: work.segmentSize, startLsn: from });
    const pieces: WalEvent[] = [];
    let at = from;
    for (const cut of [...cuts].sort((a, b) => (a < b ? -1 : 1))) {
      pieces.push(...reader.push(all.subarray(Number(at - first.start), Number(cut - first.start))));
      at = cut;
      if (at % BigInt(work.segmentSize) === 0n) reader = handOver(reader, work.segmentSize);
    }
    expect(reader.nextLsn).toBe(to);
    expect(pieces).toEqual(expected);
    expect(pieces).toContainEqual(spanning);
  });

  it('stops at the end of valid WAL in the segment being written', () => {
    const summary = summarizeSegment(work.current.data, work.current.start, work.segmentSize);
    expect(summary.ended).toBe(true);
    expect(summary.lastValidRecordEnd).toBeLessThanOrEqual(work.current.insertAfterCopy);
    for (const known of work.current.commits) {
      const event = summary.events.find((each) => each.kind === 'commit' && each.xid === known.xid);
      expect(event, `commit of xid ${String(known.xid)}`).toBeDefined();
      expect(summary.lastValidRecordEnd).toBeGreaterThanOrEqual(event?.endLsn ?? 0n);
    }
    expect(summary.lastCommitTime).toEqual(summary.events.filter((each) => each.kind === 'commit').at(-1)?.time);
  });

  it('ends valid WAL at a record with a flipped byte, never producing a garbage event', () => {
    const { handovers } = readSegments(work.segments, work.segmentSize);
    const pageSize = BigInt(WAL_PAGE_SIZE);
    // A commit from the middle of the first batches whose record lies within one page.
    const victims = work.commits.slice(5, 20).map((known) => events.find((each) => each.kind === 'commit' && each.xid === known.xid));
    const victim = victims.find((each) => each !== undefined && each.lsn / pageSize === (each.endLsn - 1n) / pageSize);
    const spanning = events.find((each) => each.kind === 'commit' && each.xid === work.spanningCommit.xid);
    if (victim === undefined || spanning === undefined) throw new Error('no commit record to corrupt');
    const boundary = (spanning.endLsn / BigInt(work.segmentSize)) * BigInt(work.segmentSize);
    const targets = [
      // the commit time in a record read in place; xl_info in its header
      victim.lsn + 30n,
      victim.lsn + 16n,
      // the padding message that ends where the straddling commit starts: a record checked as it streams by, never copied
      spanning.lsn - 200n - ((spanning.lsn - 200n) % pageSize < 40n ? 64n : 0n),
      // the straddling commit's part in the next segment, after a page header: a record assembled across segments
      boundary + 100n,
    ];
    for (const at of targets) {
      const index = work.segments.findIndex((segment) => at >= segment.start && at < segment.start + BigInt(work.segmentSize));
      const segment = work.segments[index];
      if (segment === undefined) throw new Error('no segment holds the byte to flip');
      const corrupted = Buffer.from(segment.data);
      const offset = Number(at - segment.start);
      corrupted[offset] = (corrupted[offset] ?? 0) ^ 0x01;
      const intact = summarizeSegment(segment.data, segment.start, work.segmentSize, handovers[index]);
      const summary = summarizeSegment(corrupted, segment.start, work.segmentSize, handovers[index]);
      expect(summary.ended).toBe(true);
      // The records before the damaged one, and nothing from it on.
      const before = intact.events.filter((each) => each.endLsn <= at);
      expect(summary.events).toEqual(before);
      expect(summary.lastValidRecordEnd).toBeLessThanOrEqual(at);
      expect(summary.lastValidRecordEnd).toBeGreaterThanOrEqual(before.at(-1)?.endLsn ?? segment.start);
    }
    expect(work.segments.some((segment) => segment.start === boundary)).toBe(true);
  });

  it('refuses WAL it cannot belong to (another major, another segment size), and drops a handed-over record the segment does not continue', () => {
    const [first, second] = work.segments;
    if (first === undefined || second === undefined) throw new Error('fewer than two segments');
    const thrown = (read: () => unknown): unknown => {
      try {
        read();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const fourteen = Buffer.from(first.data.subarray(0, WAL_PAGE_SIZE));
    fourteen.writeUInt16LE(0xd10d, 0);
    expect(isDrcError(thrown(() => summarizeSegment(fourteen, first.start, work.segmentSize)), 'PG_SERVER_UNSUPPORTED')).toBe(true);
    expect(isDrcError(thrown(() => summarizeSegment(second.data.subarray(0, WAL_PAGE_SIZE), second.start, work.segmentSize * 2 >= 1 << 30 ? work.segmentSize / 2 : work.segmentSize * 2)), 'WAL_INVALID')).toBe(true);
    // The head the straddling commit leaves, given to a later segment that does not continue it: read as if none had been given.
    const handedOver = work.segments.map((segment) => summarizeSegment(segment.data, segment.start, work.segmentSize).continuedRecord).find((each) => each !== undefined);
    const later = work.segments.at(-1) ?? second;
    expect(handedOver).toBeDefined();
    expect(summarizeSegment(later.data, later.start, work.segmentSize, handedOver)).toEqual(summarizeSegment(later.data, later.start, work.segmentSize));
    // A made-up restore point head of 40 of its 200 bytes: no page continues a record by 160 bytes here.
    const madeUp = Buffer.alloc(40);
    madeUp.writeUInt32LE(200, 0);
    madeUp[16] = 0x70;
    expect(summarizeSegment(later.data, later.start, work.segmentSize, { lsn: formatLsn(later.start - 8n), head: madeUp.toString('base64') })).toEqual(summarizeSegment(later.data, later.start, work.segmentSize));
    expect(isDrcError(thrown(() => new WalReader({ segmentSize: work.segmentSize, startLsn: first.start + 4n })), 'USAGE')).toBe(true);
    // Zeroes where a segment should be are no WAL at all: the end, not an error.
    const zeroes = summarizeSegment(Buffer.alloc(WAL_PAGE_SIZE), first.start, work.segmentSize);
    expect(zeroes).toMatchObject({ events: [], ended: true, lastValidRecordEnd: first.start });
  });

  // Last: it turns the server into a standby and promotes it.
  it('reads the end-of-recovery record a promotion writes, with the new timeline', async () => {
    if (cluster === undefined) throw new Error('no cluster');
    await cluster.stop();
    await writeFile(join(cluster.dataDir, 'standby.signal'), '');
    await cluster.start();
    const before = Date.now();
    await cluster.promote();
    await waitFor(cluster, 'SELECT NOT pg_is_in_recovery()');
    const after = Date.now();

    // 00000002.history: "1<TAB>switch point<TAB>reason" — timeline 2 begins at the switch point.
    const history = await readFile(join(cluster.dataDir, 'pg_wal', '00000002.history'), 'utf8');
    const switchPoint = parseLsn(history.split('\t')[1] ?? '');
    const segment = segmentNumber(switchPoint, work.segmentSize);
    const data = await readFile(join(cluster.dataDir, 'pg_wal', segmentFileName(2, segment, work.segmentSize)));
    const summary = summarizeSegment(data, segmentStart(segment, work.segmentSize), work.segmentSize);
    const endOfRecovery = summary.events.find((each) => each.kind === 'checkpoint' && each.lsn >= switchPoint);
    expect(endOfRecovery?.timeline).toBe(2);
    // The first record of timeline 2, unless a page header comes first.
    expect(endOfRecovery?.lsn).toBeLessThanOrEqual(switchPoint + 40n);
    expect(endOfRecovery?.time?.getTime()).toBeGreaterThanOrEqual(before);
    expect(endOfRecovery?.time?.getTime()).toBeLessThanOrEqual(after);
    // Earlier checkpoints in the same segment were written on timeline 1.
    for (const each of summary.events) if (each.kind === 'checkpoint' && each.lsn < switchPoint) expect(each.timeline).toBe(1);
  });
});
