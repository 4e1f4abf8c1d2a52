import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoReport } from '../src/main/demo/demo.js';
import { runCli } from '../src/main/hosts/cli/run.js';
import { runAsUnprivileged } from '../src/main/postgres/binaries.js';
import { createContext } from '../src/main/services/context.js';
import { listEvents } from '../src/main/services/events.js';
import type { EventPage } from '../src/shared/contract/events.js';
import type { ResultEnvelope } from '../src/shared/contract/index.js';
import type { Timeline } from '../src/shared/contract/recovery.js';
import { tokenHeader } from '../src/shared/http-api.js';
import { capturedStreams, drc } from './support/cli.js';

const execFileAsync = promisify(execFile);
const passphraseVariable = 'DRC_DEMO_PASSPHRASE';
const sandboxes: string[] = [];

beforeEach(() => {
  // Each run starts as on a fresh shell: the demo makes up its own passphrase.
  delete process.env[passphraseVariable];
});

afterAll(async () => {
  delete process.env[passphraseVariable];
  for (const directory of sandboxes) await rm(directory, { recursive: true, force: true });
});

describe('drc demo', () => {
  it('runs the whole loop on a sandbox, brings the deleted rows back, records the accident and says how to open the console', async () => {
    const result = await drc(['demo', '--scale', '0.3', '--json']);
    expect(result.code).toBe(0);
    const report = result.json<DemoReport>();
    sandboxes.push(report.directory);
    expect(report.accident.deletedRows).toBeGreaterThan(0);
    expect(report.recovery.recoveredRows).toBe(report.accident.deletedRows);
    expect(report.restoreTest.success).toBe(true);
    expect(report.restoreTest.rowsVerified).toBeGreaterThan(100_000);
    expect(report.rpoSeconds).toBeLessThan(3600);
    expect(report.compliance.copies).toBe(3);
    expect(report.serverRunning).toBe(false);
    expect(result.stderr).toContain('9/9 status');
    // The sandbox stays for inspection until the user removes it, as the report says.
    await access(report.directory);
    expect(report.cleanup).toContain(`rm -rf ${report.directory}`);

    // The console opens on the sandbox with a passphrase kept beside it, readable by its owner only.
    const passphraseFile = join(report.directory, 'demo-passphrase');
    expect(report.dashboard).toBe(`${passphraseVariable}="$(cat ${passphraseFile})" drc serve --config ${report.configPath}`);
    expect((await stat(passphraseFile)).mode & 0o077).toBe(0);

    // The accident is a DR event at the time of the DELETE, after the last good moment, in both repositories.
    // Read as a later shell would: from the file, not from what this process still holds.
    delete process.env[passphraseVariable];
    process.env[passphraseVariable] = (await readFile(passphraseFile, 'utf8')).trim();
    const history = await listEvents(await createContext({ configPath: report.configPath }), { type: 'dr-event' });
    expect(history.events).toHaveLength(1);
    const [accident] = history.events;
    expect(accident).toMatchObject({
      id: report.accident.eventId,
      type: 'dr-event',
      time: report.accident.statementAt,
      outcome: 'failure',
      details: { incident: 'accidental-delete', table: 'public.vendor_messages', rows_deleted: report.accident.deletedRows, last_good_timestamp: report.accident.deletedAt },
    });
    expect(accident?.repositories.sort()).toEqual(['nas', 'usb']);
    expect(Date.parse(report.accident.statementAt)).toBeGreaterThan(Date.parse(report.accident.deletedAt));
  }, 300_000);

  it('--serve keeps the sandbox running and serves the console on it, whose timeline shows the backup, restore point, accident and restore', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'drc-demo-serve-'));
    sandboxes.push(directory);
    const stop = new AbortController();
    const streams = capturedStreams('');
    const running = runCli(['demo', '--dir', directory, '--scale', '0.1', '--serve', '--port', '0', '--json'], { ...streams, signal: stop.signal });
    let serverStopCommand: string | undefined;
    try {
      let firstLine: string | undefined;
      const deadline = Date.now() + 280_000;
      while (firstLine === undefined && Date.now() < deadline) {
        const out = streams.out();
        if (out.includes('\n')) firstLine = out.slice(0, out.indexOf('\n'));
        else if (streams.err().includes('error ')) break;
        else await delay(250);
      }
      serverStopCommand = /^\s+(\S+pg_ctl -D \S+ stop)$/m.exec(streams.err())?.[1];
      expect(firstLine, streams.err()).toBeDefined();
      const { url } = JSON.parse(firstLine ?? '{}') as { url: string };
      const origin = new URL(url).origin;
      const token = new URL(url).hash.replace('#token=', '');
      expect(streams.err()).toContain(`drc serve --config ${join(directory, 'drc.json')}`);
      expect(streams.err()).toMatch(/server running on port \d+/);

      const call = async <T>(path: string, body: unknown): Promise<T> => {
        const response = await fetch(`${origin}/api/${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', [tokenHeader]: token }, body: JSON.stringify(body) });
        const envelope = (await response.json()) as ResultEnvelope<T>;
        if (!envelope.ok) throw new Error(`${path}: ${envelope.error.code} ${envelope.error.message}`);
        return envelope.value;
      };
      const accidents = await call<EventPage>('events/query', { types: ['dr-event'] });
      expect(accidents.events).toEqual([expect.objectContaining({ type: 'dr-event', details: expect.objectContaining({ incident: 'accidental-delete' }) as unknown })]);
      const accidentId = accidents.events[0]?.id;

      const timeline = await call<Timeline>('recovery/timeline', { days: 1 });
      const kinds = timeline.markers.map((marker) => `${marker.kind}${marker.kind === 'backup' ? `:${marker.backupType ?? ''}` : ''}`);
      expect(kinds).toEqual(expect.arrayContaining(['backup:full', 'restore-point', 'restore-test', 'dr-event']));
      expect(timeline.markers.find((marker) => marker.kind === 'restore-point')?.name).toMatch(/^demo-hourly-/);
      const drEvents = timeline.markers.filter((marker) => marker.kind === 'dr-event');
      // The accident, then the partial restore that brought the rows back.
      expect(drEvents.map((marker) => marker.id)).toContain(`dr-event:${String(accidentId)}`);
      expect(drEvents.some((marker) => marker.label.startsWith('partial restore'))).toBe(true);
    } finally {
      stop.abort();
      const code = await running;
      if (serverStopCommand) {
        const [pgCtl = '', ...args] = serverStopCommand.split(' ');
        await execFileAsync(pgCtl, [...args.slice(0, -1), '-m', 'fast', 'stop'], { ...runAsUnprivileged() });
      }
      expect(code, streams.err()).toBe(0);
      expect(streams.err()).toContain('drc serve stopped');
    }
  }, 300_000);

  it('refuses --port or --open without --serve', async () => {
    const result = await drc(['demo', '--open']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('only --serve starts');
  });
});
