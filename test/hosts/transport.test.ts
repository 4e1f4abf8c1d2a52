import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createContractClient, type ContractServer } from '../../src/shared/contract/index.js';
import type { ErrorData } from '../../src/shared/errors.js';
import { stopServing } from '../../src/main/hosts/cli/serve-command.js';
import { createHttpHost, type HttpHost } from '../../src/main/hosts/http.js';
import { takeAccessToken, type TokenPage } from '../../src/renderer/transport/access-token.js';
import { createHttpTransport } from '../../src/renderer/transport/http-transport.js';
import { fakeServices, runningRestore, usbRepository } from '../electron/fixtures.js';
import { tempDirectory } from '../support/temp.js';

/** A page as the renderer sees it: an address, this tab's storage, its history. */
function fakePage(address: string, stored: Record<string, string> = {}) {
  const url = new URL(address);
  const storage = new Map(Object.entries(stored));
  const replaced: string[] = [];
  const page: TokenPage = {
    location: { hash: url.hash, pathname: url.pathname, search: url.search },
    sessionStorage: { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => void storage.set(key, value) },
    history: { state: null, replaceState: (_state, _unused, target) => void replaced.push(target) },
  };
  return { page, storage, replaced };
}

describe('the renderer keeps the drc serve token out of the address bar', () => {
  it('takes the token from the fragment, keeps it for this tab, and scrubs the address', () => {
    const { page, storage, replaced } = fakePage('http://127.0.0.1:4000/admin/backups?view=list#token=abc_DEF-123');
    expect(takeAccessToken(page)).toBe('abc_DEF-123');
    expect([...storage.values()]).toEqual(['abc_DEF-123']);
    expect(replaced).toEqual(['/admin/backups?view=list']);
  });

  it('finds the kept token after a reload, whose address has none', () => {
    const first = fakePage('http://127.0.0.1:4000/#token=kept');
    takeAccessToken(first.page);
    const reload = fakePage('http://127.0.0.1:4000/timeline', Object.fromEntries(first.storage));
    expect(takeAccessToken(reload.page)).toBe('kept');
    expect(reload.replaced).toEqual([]);
  });

  it('prefers a new token in the address over a kept one from an earlier run', () => {
    const { page, storage } = fakePage('http://127.0.0.1:4000/#token=new-run', { 'drc.accessToken': 'old-run' });
    expect(takeAccessToken(page)).toBe('new-run');
    expect([...storage.values()]).toEqual(['new-run']);
  });

  it('has no token when the page was opened without one', () => {
    expect(takeAccessToken(fakePage('http://127.0.0.1:4000/#overview').page)).toBeUndefined();
  });
});

describe('the renderer transport against the HTTP host', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let fake: ReturnType<typeof fakeServices>;
  let host: HttpHost;
  let origin: string;

  const client = (token: string | undefined, fetcher: typeof fetch = fetch) => createContractClient(createHttpTransport({ token, fetch: fetcher, baseUrl: origin }));
  const rejection = (promise: Promise<unknown>): Promise<ErrorData> => promise.then(() => expect.fail('the call succeeded'), (error: unknown) => error as ErrorData);

  beforeEach(async () => {
    dir = await tempDirectory();
    await mkdir(join(dir.path, 'renderer'));
    await writeFile(join(dir.path, 'renderer', 'index.html'), '<!doctype html><script defer src="./main.js"></script><div id="root"></div>');
    await writeFile(join(dir.path, 'renderer', 'main.js'), '/* bundle */');
    fake = fakeServices();
    host = await createHttpHost(fake.services, { rendererDir: join(dir.path, 'renderer') });
    origin = `http://127.0.0.1:${String(host.port)}`;
  });

  afterEach(async () => {
    await host.close();
    await dir.remove();
  });

  it('calls a contract method with the token and gets its value', async () => {
    await expect(client(host.token).repository.info({ repository: 'usb' })).resolves.toEqual([usbRepository]);
    expect(fake.repository.info).toHaveBeenCalledWith({ repository: 'usb' });
  });

  it('turns a missing token into TOKEN_INVALID with the hint to open the printed URL, without asking the server', async () => {
    const fetcher = vi.fn(fetch);
    const error = await rejection(client(undefined, fetcher).repository.info({}));
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', hints: [expect.stringContaining('open the URL drc serve printed') as string] });
    expect(fetcher).not.toHaveBeenCalled();
  });

  it('shows the server refusing a token from an earlier run as TOKEN_INVALID', async () => {
    const error = await rejection(client('token-of-yesterdays-run').repository.info({}));
    expect(error).toMatchObject({ code: 'TOKEN_INVALID', hints: [expect.stringContaining('open the URL drc serve printed') as string] });
    expect(fake.repository.info).not.toHaveBeenCalled();
  });

  it('says HOST_UNREACHABLE, retryable, once drc serve has stopped', async () => {
    const dashboard = client(host.token);
    await host.close();
    const error = await rejection(dashboard.repository.info({}));
    expect(error).toMatchObject({ code: 'HOST_UNREACHABLE', retryable: true });
  });

  it('fans the one event stream out by channel, and unsubscribes on the server when the page stops listening', async () => {
    const dashboard = client(host.token);
    const progress: unknown[] = [];
    const operations: unknown[] = [];
    const stopProgress = dashboard.repository.progress((event) => progress.push(event));
    const stopOperations = dashboard.operations.changed((event) => operations.push(event));
    await vi.waitFor(() => expect(fake.repository.progress).toHaveBeenCalled());

    const event = { operation: 'verify' as const, repository: 'usb', done: 3, total: 12, bytes: 4096 };
    fake.emitProgress(event);
    await vi.waitFor(() => expect(progress).toEqual([event]));
    expect(operations).toEqual([]);

    stopProgress();
    stopOperations();
    await vi.waitFor(() => expect(fake.unsubscribeProgress).toHaveBeenCalled());
  });

  it('reconnects the event stream with backoff after it drops', async () => {
    let attempts = 0;
    const flaky: typeof fetch = (input, init) => {
      attempts += 1;
      return attempts === 1 ? Promise.reject(new TypeError('network changed')) : fetch(input, init);
    };
    const transport = createHttpTransport({ token: host.token, fetch: flaky, baseUrl: origin });
    const received: unknown[] = [];
    const stop = transport.listen('drc:repository.progress', (event) => received.push(event));
    await vi.waitFor(() => expect(fake.repository.progress).toHaveBeenCalled(), { timeout: 3000 });
    fake.emitProgress({ operation: 'sync', repository: 'usb', done: 1, total: 1, bytes: 1 });
    await vi.waitFor(() => expect(received).toHaveLength(1));
    expect(attempts).toBe(2);
    stop();
  });
});

describe('stopping drc serve', () => {
  it('cancels running operations through the contract and waits for them to settle before closing', async () => {
    const dir = await tempDirectory();
    await mkdir(join(dir.path, 'renderer'));
    await writeFile(join(dir.path, 'renderer', 'index.html'), '<!doctype html>');
    const fake = fakeServices();
    fake.addOperation(runningRestore());
    fake.addOperation(runningRestore({ id: 'op-done', state: 'succeeded' }));
    fake.holdCancellations();
    const services: ContractServer = fake.services;
    const host = await createHttpHost(services, { rendererDir: join(dir.path, 'renderer') });
    const stderr: string[] = [];
    const io = { stderr: { write: (text: string) => stderr.push(text) } as unknown as NodeJS.WritableStream };

    let stopped = false;
    const stopping = stopServing(services, host, io).then(() => (stopped = true));
    await vi.waitFor(() => expect(fake.operations.cancel).toHaveBeenCalledWith({ operationId: 'op-restore-1' }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);
    fake.settle('op-restore-1', 'cancelled');
    await stopping;
    expect(fake.operations.cancel).toHaveBeenCalledTimes(1);
    expect(stderr.join('')).toContain('cancelling 1 operation(s)');
    await expect(fetch(`http://127.0.0.1:${String(host.port)}/`)).rejects.toThrow();
    await dir.remove();
  });
});
