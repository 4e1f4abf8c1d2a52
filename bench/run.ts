import { benchChunkPipeline } from './chunk-pipeline.js';

/**
 * `npm run bench`: prints figures, asserts nothing. BENCH_MIB sets the data size of the
 * chunk pipeline entry (default 1024 = 1 GiB).
 */
const totalMiB = Number(process.env.BENCH_MIB ?? 1024);
const chunkKiB = Number(process.env.BENCH_CHUNK_KIB ?? 1024);

await benchChunkPipeline(totalMiB * 1024 * 1024, chunkKiB * 1024);
