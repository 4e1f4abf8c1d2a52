import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The sandbox every browser test drives: a real PostgreSQL cluster with a table of guests,
 * two repositories (a local "nas" and a removable "usb"), WAL streamed into both by
 * `drc wal stream`, one nightly backup, and `drc serve` in front of it. Global set-up
 * builds it once (a cluster and a backup take seconds; one worker shares them) and leaves
 * its description in a JSON file that the specs read back through `readSandbox()`.
 */
export interface Sandbox {
  /** Where `drc serve` listens, without the fragment: `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** The per-run token `drc serve` printed in the URL's fragment. */
  readonly token: string;
  readonly configPath: string;
  /** Everything the sandbox wrote, repositories included. */
  readonly root: string;
  readonly repositories: { readonly nas: string; readonly usb: string };
  /** The removable repository's mount point: renaming it away is unplugging the drive. */
  readonly usbMountPoint: string;
  readonly cluster: { readonly major: 15 | 16 | 17 | 18; readonly port: number };
  /** The table the specs delete from and count in a restored copy. */
  readonly guestRows: number;
  /** Where the long-running commands log: read these when a spec fails. */
  readonly logDir: string;
}

const PASSPHRASE = 'e2e sandbox passphrase';
const repoRoot = resolve(import.meta.dirname, '..', '..');
export const logDir = join(repoRoot, 'test-results', 'sandbox');
const stateFile = join(logDir, 'sandbox.json');

export async function saveSandbox(sandbox: Sandbox): Promise<void> {
  await mkdir(logDir, { recursive: true });
  await writeFile(stateFile, `${JSON.stringify(sandbox, null, 2)}\n`);
}

export async function readSandbox(): Promise<Sandbox> {
  return JSON.parse(await readFile(stateFile, 'utf8')) as Sandbox;
}

/** The environment every `drc` run gets: the repositories' passphrase, and nothing inherited that could change it. */
export function drcEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DRC_PASSPHRASE: PASSPHRASE, ...extra };
}

export interface DrcResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the compiled `drc` (bin/drc.js, so `npm run build` must have run) to its end. */
export async function runDrc(args: readonly string[], env: NodeJS.ProcessEnv = drcEnvironment()): Promise<DrcResult> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'drc.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', done);
  });
  return { code, stdout, stderr };
}

/** Like `runDrc`, but a non-zero exit is an error carrying what the command said. */
export async function drcOrFail(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await runDrc(args, env);
  if (result.code !== 0) throw new Error(`drc ${args.join(' ')} exited with ${String(result.code)}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A long-running `drc` command (`wal stream`, `serve`) whose output goes to a log file. */
export interface BackgroundDrc {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM, which `drc` treats as Ctrl-C, then waits for the exit. */
  stop(): Promise<void>;
}

export function startBackgroundDrc(name: string, args: readonly string[], env: NodeJS.ProcessEnv = drcEnvironment()): BackgroundDrc {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'drc.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(log);
  const exited = new Promise<void>((done) => child.on('close', () => done()));
  return {
    child,
    logFile,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A command that ignores SIGTERM must not hang the teardown.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
}

export interface ServedConsole {
  readonly origin: string;
  readonly token: string;
  readonly server: BackgroundDrc;
}

/**
 * Starts `drc serve --port 0 --json` and reads the URL from the first line of its
 * stdout (`{"url": "http://127.0.0.1:PORT/#token=…"}`).
 */
export async function serveConsole(name: string, configPath: string, env: NodeJS.ProcessEnv = drcEnvironment()): Promise<ServedConsole> {
  const server = startBackgroundDrc(name, ['serve', '--config', configPath, '--port', '0', '--json'], env);
  const stdout = server.child.stdout;
  if (stdout === null) throw new Error('drc serve has no stdout');
  const lines = createInterface({ input: stdout });
  // Every line is kept: `--json` prints a refusal as one JSON document over several lines.
  const printed: string[] = [];
  const firstLine = new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`drc serve printed no URL within 30 s; see ${server.logFile}`)), 30_000);
    lines.on('line', (line) => {
      printed.push(line);
      clearTimeout(timer);
      done(line);
    });
    server.child.once('close', (code) => {
      clearTimeout(timer);
      fail(new Error(`drc serve exited with ${String(code)} before printing its URL:\n${printed.join('\n')}\nsee ${server.logFile}`));
    });
  });
  const url = urlFromFirstLine(await firstLine);
  if (url === undefined) {
    await server.stop();
    throw new Error(`drc serve did not print its URL but:\n${printed.join('\n')}\nsee ${server.logFile}`);
  }
  const parsed = new URL(url);
  const token = new URLSearchParams(parsed.hash.slice(1)).get('token');
  if (token === null || token === '') throw new Error(`drc serve printed a URL without a token: ${url}`);
  return { origin: parsed.origin, token, server };
}

function urlFromFirstLine(line: string): string | undefined {
  try {
    const parsed = JSON.parse(line) as { url?: unknown };
    return typeof parsed.url === 'string' ? parsed.url : undefined;
  } catch {
    return undefined;
  }
}

/** The console's URL for a route, with the token in the fragment as `drc serve` hands it out. */
export function consoleUrl(sandbox: Pick<Sandbox, 'origin' | 'token'>, route = '/'): string {
  return `${sandbox.origin}${route}#token=${encodeURIComponent(sandbox.token)}`;
}

export type ApiEnvelope<Result> = { ok: true; value: Result } | { ok: false; error: { code: string; message: string; hints: string[] } };

/** One contract call over HTTP, as the page makes it, answered in the contract's envelope. */
export async function apiEnvelope<Result>(sandbox: Pick<Sandbox, 'origin' | 'token'>, path: string, body: unknown = {}): Promise<ApiEnvelope<Result>> {
  const response = await fetch(`${sandbox.origin}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-drc-token': sandbox.token, origin: sandbox.origin },
    body: JSON.stringify(body),
  });
  return (await response.json()) as ApiEnvelope<Result>;
}

/** One contract call whose failure fails the test. */
export async function callApi<Result>(sandbox: Pick<Sandbox, 'origin' | 'token'>, path: string, body: unknown = {}): Promise<Result> {
  const envelope = await apiEnvelope<Result>(sandbox, path, body);
  if (!envelope.ok) throw new Error(`${path}: ${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value;
}

function lsnValue(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high ?? '0'}`) << 32n) | BigInt(`0x${low ?? '0'}`);
}

/** Waits until the nas repository holds WAL up to `lsn`: only then can the timeline offer the moments before it. */
export async function waitForWalStored(sandbox: Pick<Sandbox, 'configPath' | 'logDir'>, lsn: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // `wal status` exits 1 when the usb copy has a gap (another spec unplugs it); its JSON is printed all the same.
    const { stdout } = await runDrc(['wal', 'status', '--config', sandbox.configPath, '--json']);
    const { repositories } = JSON.parse(stdout) as { repositories?: Array<{ repository: string; newestLsn?: string }> };
    const stored = repositories?.find((entry) => entry.repository === 'nas')?.newestLsn;
    if (stored !== undefined && lsnValue(stored) >= lsnValue(lsn)) return;
    if (Date.now() > deadline) throw new Error(`WAL up to ${lsn} was not stored in nas within 60 s (newest: ${stored ?? 'none'}); see ${sandbox.logDir}/wal-stream.log`);
    await sleep(1000);
  }
}
