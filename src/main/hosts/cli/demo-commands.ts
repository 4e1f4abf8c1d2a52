import { DrcError } from '../../../shared/errors.js';
import { runDemo, type DemoReport } from '../../demo/demo.js';
import { formatBytes, type Command } from './command.js';

/** `demo`: the whole loop on a sandbox, for a first look on a fresh machine. */
export const demoCommands: Record<string, Command> = {
  demo: {
    usage: 'drc demo [--dir DIR] [--major 15|16|17|18] [--scale 1] [--keep]',
    summary: 'run backup → WAL streaming → accidental DELETE → point-in-time restore → restore test → status on a sandbox cluster',
    options: { dir: { type: 'string' }, major: { type: 'string' }, scale: { type: 'string' }, keep: { type: 'boolean', default: false } },
    positionals: 0,
    run: async ({ values, io, progress }) => {
      const major = values.major === undefined ? undefined : Number(values.major);
      const scale = values.scale === undefined ? 1 : Number(values.scale);
      if ((major !== undefined && ![15, 16, 17, 18].includes(major)) || !(scale > 0 && scale <= 50)) {
        throw new DrcError('USAGE', 'unable to run the demo: --major is 15 to 18 and --scale a number from 0 to 50', { hints: ['drc demo --major 17 --scale 1'] });
      }
      const report = await runDemo({
        ...(typeof values.dir === 'string' ? { directory: values.dir } : {}),
        ...(major === undefined ? {} : { major }),
        scale,
        keep: values.keep === true,
        // Steps go to stderr so that --json keeps stdout for the one report document.
        say: (line) => {
          progress.finish();
          io.stderr.write(`${line}\n`);
        },
        progress: (text) => progress.show(text),
      });
      const recovered = report.recovery.recoveredRows === report.accident.deletedRows && report.accident.deletedRows > 0;
      return { json: report, text: formatDemo(report), exitCode: recovered && report.restoreTest.success ? 0 : 1 };
    },
  },
};

function formatDemo(report: DemoReport): string {
  const duration = (seconds: number | undefined): string => (seconds === undefined ? 'unknown' : `${seconds.toFixed(1)} s`);
  return [
    '',
    'DR Console demo — report',
    `  cluster            PostgreSQL ${report.postgres.version} (${report.postgres.source}), ${formatBytes(report.datasetBytes)} of wedding-planning data`,
    `  full backup        ${report.backup.id}: ${formatBytes(report.backup.bytesRead)} read, ${formatBytes(report.backup.bytesStored)} stored, ${duration(report.backup.seconds)}`,
    `  accident           ${String(report.accident.deletedRows)} vendor messages of supplier ${String(report.accident.supplierId)} deleted`,
    `  rows recovered     ${String(report.recovery.recoveredRows)} of ${String(report.accident.deletedRows)}, as of ${report.recovery.target}, into ${report.recovery.schema}.vendor_messages (${duration(report.recovery.seconds)})`,
    `  restore test       ${report.restoreTest.success ? 'passed' : `FAILED: ${report.restoreTest.problems.join('; ')}`} — ${String(report.restoreTest.tables)} tables, ${String(report.restoreTest.rowsVerified)} rows verified`,
    `  RPO now            ${duration(report.rpoSeconds)} (data a crash now would lose)`,
    `  RTO measured       ${duration(report.restoreTest.rtoSeconds)} restore + recovery (estimate for now: ${duration(report.rtoEstimateSeconds)})`,
    `  3-2-1              ${report.compliance.compliant ? 'met' : 'not met'}: ${String(report.compliance.copies)} copies counting production, media ${report.compliance.mediaKinds.join(' + ')}, ${report.compliance.offsite ? "an offsite copy" : "no offsite copy"}`,
    `  sandbox            ${report.directory} (config ${report.configPath}); server ${report.serverRunning ? `running on port ${String(report.postgres.port)}` : 'stopped'}`,
    '',
    'Clean up with:',
    ...report.cleanup.map((line) => `  ${line}`),
  ].join('\n');
}
