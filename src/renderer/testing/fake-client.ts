import type { ContractClient } from '../../shared/contract/index.js';
import type { Operation } from '../../shared/contract/operations.js';

type Members<Service> = { -readonly [Member in keyof Service]?: Service[Member] };
export type FakeServices = { -readonly [Service in keyof ContractClient]?: Members<ContractClient[Service]> };

/**
 * A contract client for store tests: the members a test gives, and for any other one a
 * rejection naming it, so a store that calls something unexpected fails loudly instead
 * of hanging on an undefined.
 */
export function fakeClient(services: FakeServices): ContractClient {
  return new Proxy({} as ContractClient, {
    get(_target, service: string) {
      const members = (services as Record<string, Record<string, unknown> | undefined>)[service] ?? {};
      return new Proxy(members, {
        get(given, member: string) {
          return given[member] ?? (() => Promise.reject(new Error(`the test did not fake '${service}.${member}'`)));
        },
      });
    },
  });
}

/** A failed call as the real client fails it: rejected with plain ErrorData, not an Error (see createContractClient). */
export function failure<Value>(code: string, message: string, hints: string[] = []): Promise<Value> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- ErrorData on purpose, as the contract client does
  return Promise.reject({ code, message, hints, retryable: false });
}

export function operation(overrides: Partial<Operation> & Pick<Operation, 'id' | 'kind'>): Operation {
  return {
    title: `${overrides.kind} ${overrides.id}`,
    state: 'running',
    phase: 'copying files',
    createdAt: '2026-12-05T10:00:00.000Z',
    message: 'working',
    fallbacks: [],
    cancellable: true,
    cancelEffect: 'nothing is kept',
    ...overrides,
  };
}
