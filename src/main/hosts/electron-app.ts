import { app, dialog } from 'electron';
import { toErrorData } from '../../shared/contract/index.js';
import { redactDeep } from '../secrets/redact.js';
import { createServices } from '../services/index.js';
import { startDesktopApp } from './electron.js';

/**
 * Entry point of the desktop app (package.json `main`). `DRC_CONFIG` points at another
 * configuration file, as it does for the CLI; without it the services use the default.
 */
try {
  await startDesktopApp(await createServices({ configPath: process.env['DRC_CONFIG'] }));
} catch (error) {
  // A console that cannot start must say why (a broken config, no keychain) rather than
  // vanish: the error box can be shown before the app is ready.
  const { code, message, hints } = redactDeep(toErrorData(error, 'start DR Console'));
  dialog.showErrorBox('DR Console cannot start', [`${code}: ${message}`, ...hints].join('\n'));
  app.exit(1);
}
