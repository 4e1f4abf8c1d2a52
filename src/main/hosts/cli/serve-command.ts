import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import type { ContractServer } from '../../../shared/contract/index.js';
import type { Operation } from '../../../shared/contract/operations.js';
import { toErrorData } from '../../../shared/contract/index.js';
import { DrcError } from '../../../shared/errors.js';
import { redact } from '../../secrets/redact.js';
import { createServices } from '../../services/index.js';
import { createHttpHost, type HttpHost } from '../http.js';
import type { CliIo, Command } from './command.js';

/** Compiled to `dist/main/hosts/cli/`; the renderer bundle is `dist/renderer/`. */
const rendererDir = fileURLToPath(new URL('../../../renderer/', import.meta.url));

/** How long a stop waits for cancelled operations to settle before leaving them to the next start. */
const settleMilliseconds = 10_000;

function portOption(value: string | boolean | undefined): number {
  if (value === undefined) return 0;
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isInteger(port) && port >= 0 && port <= 65535) return port;
  throw new DrcError('USAGE', `unable to read --port '${String(value)}'`, { hints: ['a port is a whole number from 1 to 65535, or 0 for any free port'] });
}

function stopRequested(signal: AbortSignal | undefined): Promise<void> {
  // Without a signal (an embedding that never stops it) the host serves until the process ends.
  return new Promise((resolve) => {
    if (signal?.aborted === true) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Opens the URL in the default browser. Best effort by design: on a headless machine
 * there is none, and the URL is already printed for the person to open.
 */
function openInBrowser(url: string, io: CliIo): void {
  const warn = (reason: string): void => {
    io.stderr.write(`warning: unable to open a browser (${reason}); open the URL printed above\n`);
  };
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsVerbatimArguments: true });
    child.on('error', (error) => warn(error.message));
    child.unref();
  } catch (error) {
    warn((error as Error).message);
  }
}

const isActive = (operation: Operation): boolean => operation.state === 'running' || operation.state === 'scheduled';

/**
 * Cancels what this host runs, through the contract like any other caller, and waits
 * (bounded) until each cancelled operation has settled, so a stop never leaves a
 * half-committed backup or restore behind it.
 */
async function cancelOperations(services: ContractServer, io: Pick<CliIo, 'stderr'>): Promise<void> {
  const warn = (what: string, error: unknown): void => {
    io.stderr.write(`warning: unable to ${what}: ${redact(toErrorData(error, what).message)}\n`);
  };
  let active: Operation[];
  try {
    active = (await services.operations.list({})).filter(isActive);
  } catch (error) {
    warn('list running operations', error);
    return;
  }
  if (active.length === 0) return;
  io.stderr.write(`cancelling ${String(active.length)} operation(s): ${active.map((operation) => operation.title).join('; ')}\n`);
  await Promise.all(
    active.map((operation) =>
      services.operations.cancel({ operationId: operation.id }).catch((error: unknown) => {
        warn(`cancel '${operation.title}'`, error);
      }),
    ),
  );
  const ids = new Set(active.map((operation) => operation.id));
  const deadline = Date.now() + settleMilliseconds;
  let unsettled = active;
  while (unsettled.length > 0 && Date.now() < deadline) {
    await delay(100);
    try {
      unsettled = (await services.operations.list({})).filter((operation) => ids.has(operation.id) && isActive(operation));
    } catch (error) {
      warn('check cancelled operations', error);
      return;
    }
  }
  for (const operation of unsettled) io.stderr.write(`warning: '${operation.title}' had not stopped after ${String(settleMilliseconds / 1000)} s; it is left as the next start finds it\n`);
}

/**
 * The clean stop: no new connections, then what runs is cancelled while the open event
 * streams still tell the pages so, then the streams and connections close.
 */
export async function stopServing(services: ContractServer, host: HttpHost, io: Pick<CliIo, 'stderr'>): Promise<void> {
  host.stopAccepting();
  await cancelOperations(services, io);
  await host.close();
  io.stderr.write('drc serve stopped\n');
}

export const serveCommands: Record<string, Command> = {
  serve: {
    usage: 'drc serve [--port N] [--open]',
    summary: 'Serve the dashboard to a browser on this machine (127.0.0.1 only) until Ctrl-C; prints the URL to open first.',
    options: { port: { type: 'string' }, open: { type: 'boolean', default: false } },
    positionals: 0,
    writesOwnOutput: true,
    run: async ({ values, io }) => {
      const port = portOption(values.port);
      const services = await createServices({ configPath: typeof values.config === 'string' ? values.config : undefined });
      const host = await createHttpHost(services, { port, rendererDir });
      // First line of stdout, at once: scripts and tests read it to find the console.
      io.stdout.write(values.json === true ? `${JSON.stringify({ url: host.url })}\n` : `${host.url}\n`);
      io.stderr.write(`DR Console is served at http://127.0.0.1:${String(host.port)}/ for this machine only; open the URL above (it carries this run's access token). Ctrl-C stops it.\n`);
      if (values.open === true) openInBrowser(host.url, io);

      await stopRequested(io.signal);
      await stopServing(services, host, io);
      return { json: { stopped: true }, text: 'drc serve stopped', exitCode: 0 };
    },
  },
};
