import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Server {
  /** Base URL for path-style requests, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Where s3rver keeps its store (one directory per bucket): benches fill it directly. */
  readonly directory: string;
  /** Creates a bucket; fails if it already exists, so each test picks its own name. */
  bucket(name: string): Promise<void>;
  /** Stops the server and removes its data directory (unless the caller chose it). Safe to call twice. */
  close(): Promise<void>;
}

/** s3rver's built-in account; it accepts any V4 signature made with this key id. */
const accessKeyId = 'S3RVER';
const secretAccessKey = 'S3RVER';

/**
 * Runs inside the child. It exits when its stdin closes, so a vitest worker that dies
 * without calling `close()` does not leave an s3rver process behind.
 */
const childScript = `
const S3rver = require(process.argv[1]);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2] })
  .run()
  .then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'))
  .catch((error) => { console.error(error); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * Starts s3rver on a free port with a fresh data directory, in a child process: its
 * ListObjectsV2 continuation tokens use DES, which Node 20's OpenSSL 3 only offers with
 * `--openssl-legacy-provider`, and that flag cannot be turned on inside a running worker.
 */
export async function startS3Server(options: { directory?: string } = {}): Promise<S3Server> {
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'drc-s3rver-')));
  await mkdir(directory, { recursive: true });
  const removeDirectory = options.directory === undefined ? () => rm(directory, { recursive: true, force: true }) : () => Promise.resolve();
  const s3rverMain = createRequire(import.meta.url).resolve('s3rver');
  const child = spawn(process.execPath, ['-e', childScript, s3rverMain, directory], {
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  let port: number;
  try {
    port = await readPort(child);
  } catch (error) {
    await stopChild(child);
    await removeDirectory();
    throw error;
  }

  const endpoint = `http://127.0.0.1:${String(port)}`;
  const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  try {
    await waitUntilAnswering(admin);
  } catch (error) {
    admin.destroy();
    await stopChild(child);
    await removeDirectory();
    throw error;
  }

  let closed = false;
  return {
    endpoint,
    port,
    accessKeyId,
    secretAccessKey,
    directory,
    async bucket(name: string): Promise<void> {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      admin.destroy();
      await stopChild(child);
      await removeDirectory();
    },
  };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => fail(new Error(`s3rver did not start within 15 s: ${stderr}`)), 15_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line !== undefined) {
        clearTimeout(timer);
        const parsed = JSON.parse(line) as { port: number };
        resolve(parsed.port);
      }
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`s3rver exited with code ${String(code)} before listening: ${stderr}`)));
  });
}

async function waitUntilAnswering(client: S3Client): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.send(new ListBucketsCommand({}));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    // Closing stdin is the child's own shutdown signal; the kill covers a child stuck in I/O.
    child.stdin?.end();
    child.kill('SIGTERM');
  });
}
