import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { DemoReport } from '../src/main/demo/demo.js';
import { drc } from './support/cli.js';

describe('drc demo', () => {
  it('runs the whole loop on a sandbox and brings the deleted rows back', async () => {
    const result = await drc(['demo', '--scale', '0.3', '--json']);
    expect(result.code).toBe(0);
    const report = result.json<DemoReport>();
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
  }, 300_000);
});
