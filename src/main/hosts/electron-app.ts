import { app, dialog } from 'electron';
import { toErrorData } from '../../shared/contract/index.js';
import { redactDeep } from '../secrets/redact.js';
import { createContext } from '../services/context.js';
import { runDaemon } from '../services/daemon.js';
import { daemonJobs } from '../services/daemon-jobs.js';
import { createServices } from '../services/index.js';
import { startDesktopApp } from './electron.js';

/**
 * Entry point of the desktop app (package.json `main`). `DRC_CONFIG` points at another
 * configuration file, as it does for the CLI; without it the services use the default.
 * The engines and the scheduler run here, in the main process, exactly as under
 * `drc serve` and `drc daemon`.
 */
const configPath = process.env['DRC_CONFIG'];
const configOptions = configPath === undefined ? {} : { configPath };

try {
  await startDesktopApp({
    open: async () => {
      const [services, context] = await Promise.all([createServices(configOptions), createContext(configOptions)]);
      return {
        services,
        runScheduler: (signal, onActivity) =>
          runDaemon(context, daemonJobs, {
            signal,
            onActivity,
            onWarning: (warning) => {
              process.stderr.write(`DR Console scheduler: ${warning}\n`);
            },
          }),
      };
    },
  });
} catch (error) {
  // A console that cannot start must say why (a broken config, no keychain) rather than
  // vanish: the error box can be shown before the app is ready.
  const { code, message, hints } = redactDeep(toErrorData(error, 'start DR Console'));
  dialog.showErrorBox('DR Console cannot start', [`${code}: ${message}`, ...hints].join('\n'));
  app.exit(1);
}
