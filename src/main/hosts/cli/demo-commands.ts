import { DrcError } from '../../../shared/errors.js';
import { runDemo, type DemoReport } from '../../demo/demo.js';
import { redact, redactDeep } from '../../secrets/redact.js';
import { formatBytes, type Command } from './command.js';
import { serveCommands } from './serve-command.js';

/** `demo`: the whole loop on a sandbox, for a first look on a fresh machine, then the console on it. */
export const demoCommands: Record<string, Command> = {
  demo: {
    usage: 'drc demo [--dir DIR] [--major 15|16|17|18] [--scale 1] [--keep] [--serve [--port N] [--open]]',
    summary:
      'run backup → WAL streaming → accidental DELETE → point-in-time restore → restore test → status on a sandbox cluster; --serve keeps it and opens the console on it (as drc serve)',
    options: {
      dir: { type: 'string' },
      major: { type: 'string' },
      scale: { type: 'string' },
      keep: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
      port: { type: 'string' },
      open: { type: 'boolean', default: false },
    },
    positionals: 0,
    // With --serve, stdout's first line is the console's URL, as under `drc serve`: the
    // report then goes to stderr, so this command writes its own output either way.
    writesOwnOutput: true,
    run: async (invocation) => {
      const { values, io, progress } = invocation;
      const major = values.major === undefined ? undefined : Number(values.major);
      const scale = values.scale === undefined ? 1 : Number(values.scale);
      if ((major !== undefined && ![15, 16, 17, 18].includes(major)) || !(scale > 0 && scale <= 50)) {
        throw new DrcError('USAGE', 'unable to run the demo: --major is 15 to 18 and --scale a number from 0 to 50', { hints: ['drc demo --major 17 --scale 1'] });
      }
      const serve = values.serve === true;
      if (!serve && (values.port !== undefined || values.open === true)) {
        throw new DrcError('USAGE', 'unable to run the demo: --port and --open apply to the console, which only --serve starts', { hints: ['drc demo --serve --open'] });
      }
      const report = await runDemo({
        ...(typeof values.dir === 'string' ? { directory: values.dir } : {}),
        ...(major === undefined ? {} : { major }),
        scale,
        // The console needs the cluster running to show RPO and take backups.
        keep: values.keep === true || serve,
        // Steps go to stderr so that --json keeps stdout for the one report document.
        say: (line) => {
          progress.finish();
          io.stderr.write(`${line}\n`);
        },
        progress: (text) => progress.show(text),
      });
      const recovered = report.recovery.recoveredRows === report.accident.deletedRows && report.accident.deletedRows > 0;
      const exitCode = recovered && report.restoreTest.success ? 0 : 1;
      if (!serve) {
        io.stdout.write(values.json === true ? `${JSON.stringify(redactDeep(report), null, 2)}\n` : `${redact(formatDemo(report))}\n`);
        return { json: report, text: formatDemo(report), exitCode };
      }
      io.stderr.write(`${redact(formatDemo(report))}\n`);
      const serveCommand = serveCommands['serve'];
      if (!serveCommand) throw new DrcError('INTERNAL', 'unable to open the console on the demo sandbox: this build has no serve command');
      const served = await serveCommand.run({
        ...invocation,
        values: { config: report.configPath, json: values.json, port: values.port, open: values.open },
      });
      return { ...served, exitCode: served.exitCode === 0 ? exitCode : served.exitCode };
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
    `  restore point      ${report.restorePoint}`,
    `  accident           ${String(report.accident.deletedRows)} vendor messages of supplier ${String(report.accident.supplierId)} deleted at ${report.accident.statementAt} (DR event ${report.accident.eventId})`,
    `  rows recovered     ${String(report.recovery.recoveredRows)} of ${String(report.accident.deletedRows)}, as of ${report.recovery.target}, into ${report.recovery.schema}.vendor_messages (${duration(report.recovery.seconds)})`,
    `  restore test       ${report.restoreTest.success ? 'passed' : `FAILED: ${report.restoreTest.problems.join('; ')}`} — ${String(report.restoreTest.tables)} tables, ${String(report.restoreTest.rowsVerified)} rows verified`,
    `  RPO now            ${duration(report.rpoSeconds)} (data a crash now would lose)`,
    `  RTO measured       ${duration(report.restoreTest.rtoSeconds)} restore + recovery (estimate for now: ${duration(report.rtoEstimateSeconds)})`,
    `  3-2-1              ${report.compliance.compliant ? 'met' : 'not met'}: ${String(report.compliance.copies)} copies counting production, media ${report.compliance.mediaKinds.join(' + ')}, ${report.compliance.offsite ? "an offsite copy" : "no offsite copy"}`,
    `  sandbox            ${report.directory} (config ${report.configPath}); server ${report.serverRunning ? `running on port ${String(report.postgres.port)}` : 'stopped'}`,
    '',
    'Open the console on this sandbox (the timeline shows the backup, the restore point, the accident and the restore):',
    `  ${report.dashboard}`,
    ...(report.serverRunning ? [] : ['  (the sandbox server is stopped, so the console shows the repositories but not the live cluster; `drc demo --keep` leaves it running)']),
    '',
    'Clean up with:',
    ...report.cleanup.map((line) => `  ${line}`),
  ].join('\n');
}
