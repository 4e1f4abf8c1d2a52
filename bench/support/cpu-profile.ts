import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/**
 * A CPU profile of the main thread around one in-process call (V8's sampling profiler,
 * as `node --cpu-prof` takes, but limited to the drc command being timed). Work on other
 * threads (zstd on libuv's pool, the server, pgBackRest) does not show: the main thread
 * is then idle or waiting.
 */
export class CpuProfiler {
  private session: Session | undefined;

  constructor(private readonly outputDir: string | undefined) {}

  get enabled(): boolean {
    return this.outputDir !== undefined;
  }

  async around<T>(label: string, work: () => Promise<T>): Promise<T> {
    if (this.outputDir === undefined) return work();
    if (!this.session) {
      this.session = new Session();
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: 1000 });
    }
    await this.session.post('Profiler.start');
    try {
      return await work();
    } finally {
      const { profile } = (await this.session.post('Profiler.stop')) as unknown as { profile: Profile };
      const file = join(this.outputDir, `${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`);
      await writeFile(file, JSON.stringify(profile));
      console.log(`\n### main-thread CPU profile: ${label} (${file})`);
      console.log(summarize(profile));
    }
  }

  close(): void {
    this.session?.disconnect();
    this.session = undefined;
  }
}

/**
 * Two views of where the main thread's time went: by the innermost DR Console function on
 * the stack (so hashing called from the chunk sealer counts as the sealer's), and the top
 * functions by self time.
 */
export function summarize(profile: Profile, top = 12): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const totalSamples = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const msPerSample = totalSamples === 0 ? 0 : (profile.endTime - profile.startTime) / 1000 / totalSamples;

  const owner = new Map<string, number>();
  const self = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const frame = node.callFrame;
    const selfKey = frame.url === '' ? frame.functionName || '(anonymous native)' : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${String(frame.lineNumber + 1)}`;
    self.set(selfKey, (self.get(selfKey) ?? 0) + hits);
    let ownerKey = frame.url === '' && frame.functionName.startsWith('(') ? frame.functionName : '(outside src/main)';
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const each = byId.get(id)?.callFrame;
      if (each && each.url.includes('/src/main/')) {
        ownerKey = `${each.functionName || '(anonymous)'} ${shortUrl(each.url)}:${String(each.lineNumber + 1)}`;
        break;
      }
    }
    owner.set(ownerKey, (owner.get(ownerKey) ?? 0) + hits);
  }
  const format = (entries: Map<string, number>): string[] =>
    [...entries.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, hits]) => `  ${(hits * msPerSample).toFixed(0).padStart(7)} ms ${((100 * hits) / Math.max(1, totalSamples)).toFixed(1).padStart(5)}%  ${key}`);
  return [
    `wall ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s; by innermost src/main function on the stack:`,
    ...format(owner),
    'top functions by self time:',
    ...format(self),
  ].join('\n');
}

function shortUrl(url: string): string {
  const at = url.indexOf('/src/main/');
  if (at >= 0) return url.slice(at + 1);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + 1);
  return url.startsWith('node:') ? url : basename(url);
}
