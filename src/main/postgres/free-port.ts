import { createServer } from 'node:net';
import { DrcError } from '../../shared/errors.js';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process may take it before
 * the server binds it; callers that start servers retry on "address in use".
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new DrcError('SCRATCH_INSTANCE_FAILED', 'unable to find a free TCP port on 127.0.0.1');
  return address.port;
}
