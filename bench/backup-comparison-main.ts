import { benchBackupComparison } from './backup-comparison.js';

/**
 * `npx tsx bench/backup-comparison-main.ts`: the drc / pgBackRest comparison alone.
 * BENCH_SCALE sizes the dataset (1 = about 2 GB); BENCH_CPU_PROFILE_DIR, when set, profiles
 * each drc command's main thread into that directory and prints where its time went.
 */
// As bin/drc.js does: enough libuv threads for fsyncs and zstd at once.
process.env.UV_THREADPOOL_SIZE ??= '16';
const scale = Number(process.env.BENCH_SCALE ?? 1);
const profileDir = process.env.BENCH_CPU_PROFILE_DIR;

await benchBackupComparison({ scale, ...(profileDir ? { profileDir } : {}) });
