import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  channelName,
  channels,
  contract,
  contractMembers,
  isContractChannel,
  type ContractClient,
  type ContractServer,
} from '../../src/shared/contract/index.js';

describe('service contract', () => {
  it('derives one unique channel per method and subscription of the contract', () => {
    const expected = Object.entries(contract).flatMap(([service, members]) => Object.keys(members).map((member) => `drc:${service}.${member}`));

    expect([...channels].sort()).toEqual(expected.sort());
    expect(new Set(channels).size).toBe(channels.length);
    expect(contractMembers.map((member) => member.channel)).toEqual(channels);
  });

  it('names a channel after its service and member', () => {
    expect(channelName('repository', 'verify')).toBe('drc:repository.verify');
    expect(isContractChannel(channelName('repository', 'progress'))).toBe(true);
    expect(isContractChannel('drc:repository.delete')).toBe(false);
    expect(isContractChannel('drc:constructor.prototype')).toBe(false);
  });

  it('types requests by what the caller sends and what the service receives', () => {
    // The client may leave out defaulted fields; the server always receives them filled in.
    expectTypeOf<Parameters<ContractClient['repository']['verify']>[0]>().toEqualTypeOf<{ repository?: string | undefined; repair?: boolean | undefined }>();
    expectTypeOf<Parameters<ContractServer['repository']['verify']>[0]>().toEqualTypeOf<{ repository?: string | undefined; repair: boolean }>();
    expectTypeOf<ReturnType<ContractClient['repository']['progress']>>().toEqualTypeOf<() => void>();
  });
});
