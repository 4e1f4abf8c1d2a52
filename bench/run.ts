import { DrcError } from '../src/shared/errors.js';
import { benchBackupComparison } from './backup-comparison.js';
import { benchChunkPipeline } from './chunk-pipeline.js';
import { benchConsole } from './console.js';
import { benchMemory } from './memory.js';
import { benchReplicationStream } from './replication-stream.js';
import { benchWalCatalog } from './wal-catalog.js';
import { benchWalReader } from './wal-reader.js';

/**
 * `npm run bench`: prints figures, asserts nothing. Entries run in order; BENCH_ONLY
 * (comma-separated: pipeline, stream, wal, compare, memory, console, catalog) picks some of them. BENCH_MIB sets the
 * chunk pipeline's data size (default 1024 = 1 GiB), BENCH_SCALE the comparison's dataset
 * factor (default 1: pgbench scale 100 plus a 2-million-row text table, about 2 GB).
 * BENCH_MEMORY_SCALES sets the dataset factors the memory entry measures (default 1,2).
 * BENCH_CONSOLE_DAYS sets the console's history lengths (default 7,30,90);
 * BENCH_CONSOLE_FRESH=1 rebuilds them instead of using the copies cached under the temp dir.
 * BENCH_CATALOG_DAYS sets the WAL catalog's history lengths at 5,000 segments a day (default
 * 7,30,90; 90 days is 900,000 objects and several GB under the temp dir), BENCH_CATALOG_FRESH=1
 * rebuilds them, BENCH_CATALOG_STORES (comma-separated: local, s3rver; default both) picks
 * where the catalog is read from.
 */
// As bin/drc.js does: enough libuv threads for fsyncs and zstd at once.
process.env.UV_THREADPOOL_SIZE ??= '16';
const only = new Set((process.env.BENCH_ONLY ?? 'pipeline,stream,wal,compare,memory,console,catalog').split(','));
const totalMiB = Number(process.env.BENCH_MIB ?? 1024);
const chunkKiB = Number(process.env.BENCH_CHUNK_KIB ?? 1024);

if (only.has('pipeline')) await benchChunkPipeline(totalMiB * 1024 * 1024, chunkKiB * 1024);
if (only.has('stream')) await benchReplicationStream();
if (only.has('wal')) await benchWalReader();
if (only.has('compare')) await benchBackupComparison(process.env.BENCH_SCALE ? { scale: Number(process.env.BENCH_SCALE) } : {});
if (only.has('memory')) await benchMemory(process.env.BENCH_MEMORY_SCALES ? process.env.BENCH_MEMORY_SCALES.split(',').map(Number) : undefined);
if (only.has('console')) {
  await benchConsole({
    ...(process.env.BENCH_CONSOLE_DAYS ? { days: process.env.BENCH_CONSOLE_DAYS.split(',').map(Number) } : {}),
    fresh: process.env.BENCH_CONSOLE_FRESH === '1',
  });
}
if (only.has('catalog')) {
  await benchWalCatalog({
    ...(process.env.BENCH_CATALOG_DAYS ? { days: process.env.BENCH_CATALOG_DAYS.split(',').map(Number) } : {}),
    ...(process.env.BENCH_CATALOG_STORES ? { stores: process.env.BENCH_CATALOG_STORES.split(',').map(catalogStore) } : {}),
    fresh: process.env.BENCH_CATALOG_FRESH === '1',
  });
}

function catalogStore(name: string): 'local' | 's3rver' {
  if (name === 'local' || name === 's3rver') return name;
  throw new DrcError('USAGE', `unable to use BENCH_CATALOG_STORES entry '${name}'`, { hints: ['name local, s3rver or both, comma-separated'] });
}
