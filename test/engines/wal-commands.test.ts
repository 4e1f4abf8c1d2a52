import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyReport } from '../../src/shared/contract/repository.js';
import type { RepositoryWalStatus } from '../../src/main/engines/wal/status.js';
import { readWalIndex } from '../../src/main/engines/wal/wal-index.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeTestConfig, type DrcTestConfig } from '../support/drc-config.js';
import { makeTempDir, startCluster, stopAllClusters, type TestCluster } from '../support/postgres.js';

process.env.DRC_TEST_PASSPHRASE = 'wal commands';
afterAll(stopAllClusters);

function fail(repository: string): never {
  throw new Error(`expected repository '${repository}' to open`);
}

describe('wal push, wal get and wal status (PostgreSQL 15)', () => {
  let source: TestCluster;
  let root: string;
  let config: DrcTestConfig;
  const segments: string[] = [];

  beforeAll(async () => {
    source = await startCluster({ major: 15 });
    root = await makeTempDir('drc-walcmd-');
    config = await writeTestConfig(root, source);
    expect((await drc(['repo', 'init', '--config', config.path, '--kdf-cost', '10'])).code).toBe(0);
    expect((await drc(['backup', '--config', config.path])).code).toBe(0);
    // What archive_command would be given: each segment as the server completes it.
    for (let index = 0; index < 3; index++) {
      await source.sql(`CREATE TABLE archived_${String(index)} AS SELECT g FROM generate_series(1, 1000) g`);
      const [row] = await source.sql<{ file: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS file');
      await source.sql('SELECT pg_switch_wal()');
      segments.push(row?.file ?? '');
    }
  });

  afterAll(async () => {
    await source.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('stores each pushed segment in every repository and gives it back byte for byte', async () => {
    // The middle segment is archived while the NAS is left out of the config: a real hole in its archive.
    const usbOnly = join(root, 'usb-only.json');
    const full = JSON.parse(await readFile(config.path, 'utf8')) as { repositories: Array<{ name: string }> };
    await writeFile(usbOnly, JSON.stringify({ ...full, repositories: full.repositories.filter((repository) => repository.name === 'usb') }));
    for (const [index, segment] of segments.entries()) {
      const pushed = await drc(['wal', 'push', join(source.dataDir, 'pg_wal', segment), '--config', index === 1 ? usbOnly : config.path, '--json']);
      expect(pushed.code).toBe(0);
      expect(pushed.json<{ repositories: string[] }>().repositories.sort()).toEqual(index === 1 ? ['usb'] : ['nas', 'usb']);
    }
    // Each repository's WAL index names what it holds.
    await withRepositorySet(await createContext({ configPath: config.path }), undefined, async (set) => {
      const indexed = async (name: string) => [...((await readWalIndex(set.repositories.find((repository) => repository.name === name) ?? fail(name)))?.segments.get(1)?.keys() ?? [])].sort();
      expect(await indexed('nas')).toEqual([segments[0], segments[2]]);
      expect(await indexed('usb')).toEqual(segments);
    });
    const last = segments.at(-1) ?? '';
    const destination = join(root, 'fetched');
    const fetched = await drc(['wal', 'get', last, destination, '--config', config.path, '--json']);
    expect(fetched.code).toBe(0);
    expect((await readFile(destination)).equals(await readFile(join(source.dataDir, 'pg_wal', last)))).toBe(true);
  });

  it('fails wal get for a segment no repository has, so recovery knows the archive ended', async () => {
    const missing = await drc(['wal', 'get', '0000000100000000000000FF', join(root, 'nothing'), '--config', config.path]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('OBJECT_MISSING');
    await expect(readdir(join(root, 'nothing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports a gap in one repository and none in the other', async () => {
    const middle = segments[1] ?? '';
    const result = await drc(['wal', 'status', '--config', config.path, '--json']);
    expect(result.code).toBe(1);
    const byName = new Map(result.json<{ repositories: RepositoryWalStatus[] }>().repositories.map((status) => [status.repository, status]));
    expect(byName.get('nas')?.gaps).toEqual([{ timeline: 1, missing: middle }]);
    expect(byName.get('usb')?.gaps).toEqual([]);
    expect(byName.get('usb')?.newestSegment).toBe(segments.at(-1));
  });

  it('verify names a damaged WAL index, --repair rebuilds it, and wal status reads the archive the same throughout', async () => {
    const indexDir = join(config.repositories.nas ?? '', 'wal-index', '00000001');
    const [page] = (await readdir(indexDir)).filter((name) => name.endsWith('.page') || name.endsWith('.delta'));
    const path = join(indexDir, page ?? '');
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(path, bytes);

    const gapsOf = async () => {
      const status = await drc(['wal', 'status', '--config', config.path, '--json']);
      return new Map(status.json<{ repositories: RepositoryWalStatus[] }>().repositories.map((entry) => [entry.repository, entry.gaps]));
    };
    // The damaged index costs speed, not answers: the archive is listed instead.
    expect((await gapsOf()).get('nas')).toEqual([{ timeline: 1, missing: segments[1] }]);

    const verified = await drc(['verify', '--config', config.path, '--json']);
    expect(verified.code).toBe(1);
    const nas = verified.json<VerifyReport>().repositories.find((result) => result.repository === 'nas');
    expect(nas?.problems).toEqual([expect.objectContaining({ object: 'wal-index/', problem: 'corrupt', repaired: false, detail: expect.stringContaining(page ?? '') as unknown })]);

    const repaired = await drc(['verify', '--repair', '--config', config.path, '--json']);
    expect(repaired.code).toBe(0);
    expect(repaired.json<VerifyReport>().repositories.find((result) => result.repository === 'nas')?.problems).toEqual([expect.objectContaining({ object: 'wal-index/', repaired: true })]);
    expect((await drc(['verify', '--config', config.path, '--json'])).code).toBe(0);
    expect((await gapsOf()).get('nas')).toEqual([{ timeline: 1, missing: segments[1] }]);
  });
});
