import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseLsn, parseSegmentFileName, segmentStart, type Lsn } from '../src/main/postgres/lsn.js';
import { CRC32C_INIT, crc32cUpdate } from '../src/main/postgres/wal/page.js';
import { WalReader, type ContinuedRecord } from '../src/main/postgres/wal/reader.js';
import { summarizeSegment } from '../src/main/postgres/wal/segment.js';
import { startCluster } from '../test/support/postgres.js';

const MiB = 1024 * 1024;
const MAJOR = 18;
const ACCOUNTS = 1_000_000;
const TRANSACTIONS = 100_000;
const REPEATS = 5;

/** Best of REPEATS runs of `run` over `bytes` bytes, in MiB/s, after one run that lets the JIT settle. */
function bestRate(bytes: number, run: () => void): number {
  run();
  let best = 0;
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    const started = process.hrtime.bigint();
    run();
    best = Math.max(best, bytes / MiB / (Number(process.hrtime.bigint() - started) / 1e9));
  }
  return best;
}

/**
 * WAL reader throughput on real WAL: a PostgreSQL server (test harness) runs the
 * workload of `pgbench -i -s 10` then 100,000 pgbench TPC-B transactions — the load,
 * primary keys built afterwards, a checkpoint, then one commit per transaction, with the
 * full-page images that follow the checkpoint. The load inserts rows one record each
 * (pgbench's COPY would batch them), which makes records more numerous and smaller: the
 * harder case for a reader, whose cost is per record as much as per byte. The complete
 * segment files are read from pg_wal into memory, so only the reader is timed. Three
 * figures: whole segments chained with their carries (the archiver's path), the same bytes
 * pushed in 64 KiB pieces (the replication stream's path), and CRC-32C alone, which every
 * byte of every record goes through.
 */
export async function benchWalReader(): Promise<void> {
  const cluster = await startCluster({ major: MAJOR, settings: { wal_keep_size: "'4GB'", max_wal_size: "'4GB'", autovacuum: 'off' } });
  let segments: Array<{ start: Lsn; data: Buffer }>;
  let segmentSize: number;
  try {
    segmentSize = Number((await cluster.sql<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"))[0]?.setting);
    await cluster.sql('CREATE TABLE bench_branches (bid int, bbalance int, filler char(88))');
    await cluster.sql('CREATE TABLE bench_tellers (tid int, bid int, tbalance int, filler char(84))');
    await cluster.sql('CREATE TABLE bench_accounts (aid int, bid int, abalance int, filler char(84))');
    await cluster.sql('CREATE TABLE bench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))');
    await cluster.sql('INSERT INTO bench_branches SELECT b, 0 FROM generate_series(1, 10) b');
    await cluster.sql('INSERT INTO bench_tellers SELECT t, (t - 1) / 10 + 1, 0 FROM generate_series(1, 100) t');
    await cluster.sql(`INSERT INTO bench_accounts SELECT a, (a - 1) / 100000 + 1, 0 FROM generate_series(1, ${String(ACCOUNTS)}) a`);
    for (const table of ['branches', 'tellers', 'accounts']) await cluster.sql(`ALTER TABLE bench_${table} ADD PRIMARY KEY (${table.charAt(0)}id)`);
    await cluster.sql('CHECKPOINT');
    await cluster.sql(`CREATE PROCEDURE bench_tpcb(n int) LANGUAGE plpgsql AS $$
      DECLARE v_aid int; v_bid int; v_tid int; v_delta int;
      BEGIN
        FOR i IN 1..n LOOP
          v_aid := 1 + floor(random() * ${String(ACCOUNTS)}); v_bid := 1 + floor(random() * 10);
          v_tid := 1 + floor(random() * 100); v_delta := floor(random() * 10001) - 5000;
          UPDATE bench_accounts SET abalance = abalance + v_delta WHERE aid = v_aid;
          UPDATE bench_tellers SET tbalance = tbalance + v_delta WHERE tid = v_tid;
          UPDATE bench_branches SET bbalance = bbalance + v_delta WHERE bid = v_bid;
          INSERT INTO bench_history VALUES (v_tid, v_bid, v_aid, v_delta, now());
          COMMIT;
        END LOOP;
      END $$`);
    await cluster.sql(`CALL bench_tpcb(${String(TRANSACTIONS)})`);
    const switchedAt = parseLsn((await cluster.sql<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn'))[0]?.lsn ?? '');

    // Every complete segment, from the first still in pg_wal to the one the switch closed.
    segments = [];
    for (const name of (await readdir(join(cluster.dataDir, 'pg_wal'))).filter((each) => /^00000001[0-9A-F]{16}$/.test(each)).sort()) {
      const parsed = parseSegmentFileName(name, segmentSize);
      if (parsed === undefined) continue;
      const start = segmentStart(parsed.segment, segmentSize);
      if (start >= switchedAt) break;
      segments.push({ start, data: await readFile(join(cluster.dataDir, 'pg_wal', name)) });
    }
  } finally {
    await cluster.remove();
  }

  const first = segments[0];
  if (first === undefined) throw new Error('the workload left no complete WAL segment');
  const bytes = segments.length * segmentSize;
  console.log(
    `\n## WAL reader — ${String(Math.round(bytes / MiB))} MiB of WAL from PostgreSQL ${String(MAJOR)} (pgbench-like: ${ACCOUNTS.toLocaleString('en')}-row load, ${TRANSACTIONS.toLocaleString('en')} TPC-B transactions), ${String(cpus().length)} CPU(s): ${cpus()[0]?.model ?? 'unknown'}, one core`,
  );

  let events = 0;
  let commits = 0;
  const segmentRate = bestRate(bytes, () => {
    let continuing: ContinuedRecord | undefined;
    events = 0;
    commits = 0;
    for (const segment of segments) {
      const summary = summarizeSegment(segment.data, segment.start, segmentSize, continuing);
      continuing = summary.continuedRecord;
      events += summary.events.length;
      for (const event of summary.events) if (event.kind === 'commit') commits++;
    }
  });
  const pieceSize = 64 * 1024;
  const streamRate = bestRate(bytes, () => {
    const reader = new WalReader({ segmentSize, startLsn: first.start });
    for (const segment of segments) {
      for (let at = 0; at < segment.data.length; at += pieceSize) reader.push(segment.data.subarray(at, at + pieceSize));
    }
  });
  const crcRate = bestRate(bytes, () => {
    for (const segment of segments) crc32cUpdate(segment.data, 0, segment.data.length, CRC32C_INIT);
  });

  console.log(`segments (summarizeSegment, ${String(segmentSize / MiB)} MiB files, records handed over at boundaries): ${segmentRate.toFixed(0)} MiB/s — ${events.toLocaleString('en')} events, ${commits.toLocaleString('en')} commits`);
  console.log(`stream (WalReader.push, ${String(pieceSize / 1024)} KiB pieces): ${streamRate.toFixed(0)} MiB/s`);
  console.log(`reference: CRC-32C alone ${crcRate.toFixed(0)} MiB/s`);
}
