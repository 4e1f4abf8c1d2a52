import { z } from 'zod';
import { DrcError, errorRegistry, type ErrorCode, type ErrorData } from '../errors.js';
import {
  repositoryInfoSchema,
  repositoryProgressSchema,
  repositorySelectionSchema,
  syncReportSchema,
  syncRequestSchema,
  verifyReportSchema,
  verifyRequestSchema,
} from './repository.js';
import { backupDetailSchema, backupListSchema, backupStartedSchema, backupStartRequestSchema } from './backups.js';
import { eventExportRequestSchema, eventExportSchema, eventPageSchema, eventQuerySchema } from './events.js';
import { operationSchema, operationSelectionSchema, operationStartedSchema } from './operations.js';
import { confirmedPartialRestoreSchema, confirmedRestoreSchema, planRequestSchema, restorePlanSchema, timelineRequestSchema, timelineSchema } from './recovery.js';
import { restoreTestRecordSchema, restoreTestRequestSchema } from './restore-test.js';
import { healthReportSchema } from './status.js';

/**
 * The service contract: one plain object that names every service, its methods (with
 * zod schemas for the request and the result) and its event streams. Everything that
 * crosses a process boundary is derived from it — channel names, the preload bridge,
 * the main-process handlers, the client and server types — so nothing is typed twice.
 */

/** A request/response call. `input` is checked in main: TypeScript types vanish at the process boundary. */
export interface MethodDefinition<Input extends z.ZodType = z.ZodType, Output extends z.ZodType = z.ZodType> {
  readonly kind: 'method';
  readonly input: Input;
  readonly output: Output;
}

/** A stream of events (progress, state changes) that main pushes to whoever listens. */
export interface SubscriptionDefinition<Event extends z.ZodType = z.ZodType> {
  readonly kind: 'subscription';
  readonly event: Event;
}

export type MemberDefinition = MethodDefinition | SubscriptionDefinition;
export type ServiceDefinition = Readonly<Record<string, MemberDefinition>>;
export type ContractDefinition = Readonly<Record<string, ServiceDefinition>>;

export function method<Input extends z.ZodType, Output extends z.ZodType>(input: Input, output: Output): MethodDefinition<Input, Output> {
  return { kind: 'method', input, output };
}

export function subscription<Event extends z.ZodType>(event: Event): SubscriptionDefinition<Event> {
  return { kind: 'subscription', event };
}

const nothing = z.object({}).default({});

export const contract = {
  status: {
    report: method(nothing, healthReportSchema),
  },
  recovery: {
    timeline: method(timelineRequestSchema, timelineSchema),
    /** The dry run: what a restore would do, and whether it can. Writes nothing. */
    plan: method(planRequestSchema, restorePlanSchema),
    restore: method(confirmedRestoreSchema, operationStartedSchema),
    restoreTables: method(confirmedPartialRestoreSchema, operationStartedSchema),
  },
  backups: {
    list: method(nothing, backupListSchema),
    detail: method(z.object({ backupId: z.string().min(1) }), backupDetailSchema),
    start: method(backupStartRequestSchema, backupStartedSchema),
  },
  restoreTests: {
    history: method(z.object({ backupId: z.string().optional() }).default({}), z.array(restoreTestRecordSchema)),
    run: method(restoreTestRequestSchema, operationStartedSchema),
  },
  operations: {
    list: method(nothing, z.array(operationSchema)),
    cancel: method(operationSelectionSchema, operationSchema),
    /** Clears a finished operation from the list once the person has read its result. */
    dismiss: method(operationSelectionSchema, z.object({})),
    changed: subscription(operationSchema),
  },
  events: {
    query: method(eventQuerySchema, eventPageSchema),
    export: method(eventExportRequestSchema, eventExportSchema),
  },
  repository: {
    info: method(repositorySelectionSchema, z.array(repositoryInfoSchema)),
    verify: method(verifyRequestSchema, verifyReportSchema),
    sync: method(syncRequestSchema, syncReportSchema),
    progress: subscription(repositoryProgressSchema),
  },
} as const satisfies ContractDefinition;

export type Contract = typeof contract;
export type ServiceName = Extract<keyof Contract, string>;
export type MemberName<Service extends ServiceName> = Extract<keyof Contract[Service], string>;

export type Unsubscribe = () => void;
export type Listener<Event> = (event: Event) => void;

/**
 * What the renderer calls. Requests are the schema's *input* type, so fields with a
 * default (`repair`) may be left out; results are the schema's output type.
 */
type ClientMember<Member> =
  Member extends MethodDefinition<infer Input, infer Output>
    ? (input: z.input<Input>) => Promise<z.output<Output>>
    : Member extends SubscriptionDefinition<infer Event>
      ? (listener: Listener<z.output<Event>>) => Unsubscribe
      : never;

/** What main implements. Requests arrive already parsed, so defaults are filled in. */
type ServerMember<Member> =
  Member extends MethodDefinition<infer Input, infer Output>
    ? (input: z.output<Input>) => Promise<z.output<Output>>
    : Member extends SubscriptionDefinition<infer Event>
      ? (listener: Listener<z.output<Event>>) => Unsubscribe
      : never;

export type ClientOf<Definition extends ContractDefinition> = {
  readonly [Service in keyof Definition]: { readonly [Member in keyof Definition[Service]]: ClientMember<Definition[Service][Member]> };
};

export type ServerOf<Definition extends ContractDefinition> = {
  readonly [Service in keyof Definition]: { readonly [Member in keyof Definition[Service]]: ServerMember<Definition[Service][Member]> };
};

export type ContractClient = ClientOf<Contract>;
export type ContractServer = ServerOf<Contract>;

export type ChannelName = `drc:${string}.${string}`;

function formatChannel(service: string, member: string): ChannelName {
  return `drc:${service}.${member}`;
}

export function channelName<Service extends ServiceName, Member extends MemberName<Service>>(service: Service, member: Member): `drc:${Service}.${Member}` {
  return `drc:${service}.${member}`;
}

interface MemberLocation {
  readonly service: string;
  readonly member: string;
  readonly channel: ChannelName;
}

export interface MethodMember extends MemberLocation {
  readonly kind: 'method';
  readonly definition: MethodDefinition;
}

export interface SubscriptionMember extends MemberLocation {
  readonly kind: 'subscription';
  readonly definition: SubscriptionDefinition;
}

/** One method or subscription of the contract with the channel it travels on. */
export type ContractMember = MethodMember | SubscriptionMember;

function membersOf(definition: ContractDefinition): ContractMember[] {
  return Object.entries(definition).flatMap(([service, members]) =>
    Object.entries(members).map(([member, memberDefinition]): ContractMember => {
      const location = { service, member, channel: formatChannel(service, member) };
      return memberDefinition.kind === 'method'
        ? { ...location, kind: 'method', definition: memberDefinition }
        : { ...location, kind: 'subscription', definition: memberDefinition };
    }),
  );
}

export const contractMembers: readonly ContractMember[] = membersOf(contract);

/** Every channel the preload and main accept; anything else is refused. */
export const channels: readonly ChannelName[] = contractMembers.map((entry) => entry.channel);

const knownChannels: ReadonlySet<string> = new Set(channels);

export function isContractChannel(channel: unknown): channel is ChannelName {
  return typeof channel === 'string' && knownChannels.has(channel);
}

/** What every call returns over IPC (and HTTP): errors travel as data, never as thrown objects. */
export type ResultEnvelope<Value> = { ok: true; value: Value } | { ok: false; error: ErrorData };

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorRegistry, code);
}

function isErrorData(value: unknown): value is ErrorData {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof ErrorData, unknown>>;
  return (
    isErrorCode(candidate.code) &&
    typeof candidate.message === 'string' &&
    Array.isArray(candidate.hints) &&
    candidate.hints.every((hint) => typeof hint === 'string') &&
    typeof candidate.retryable === 'boolean'
  );
}

/**
 * Turns anything a call failed with into ErrorData. `action` completes the sentence
 * "unable to …" for failures nobody anticipated (they become `INTERNAL`).
 */
export function toErrorData(reason: unknown, action: string): ErrorData {
  if (reason instanceof DrcError) return reason.toData();
  if (isErrorData(reason)) return { code: reason.code, message: reason.message, hints: [...reason.hints], retryable: reason.retryable };
  const cause = reason instanceof Error ? reason.message : String(reason);
  return {
    code: 'INTERNAL',
    message: `unable to ${action}: ${cause}`,
    hints: ['this is a defect in DR Console, not a problem with your repositories; report it with the steps that led here'],
    retryable: errorRegistry.INTERNAL.retryable,
  };
}

/**
 * Runs one contract method on the server side: validates the request with the method's
 * schema, calls the implementation and validates its result. Parsing the result also
 * strips any field the contract does not name, so an internal object handed back by a
 * service (one holding a credential, say) cannot leak to the renderer.
 */
export async function callService(services: ContractServer, member: MethodMember, input: unknown): Promise<ResultEnvelope<unknown>> {
  const { definition } = member;
  const action = `run '${member.service}.${member.member}'`;
  const request = definition.input.safeParse(input);
  if (!request.success) {
    return {
      ok: false,
      error: new DrcError('USAGE', `unable to call '${member.service}.${member.member}' with an invalid request`, {
        hints: request.error.issues.map((issue) => `${issue.path.map(String).join('.') || 'request'}: ${issue.message}`),
      }).toData(),
    };
  }
  try {
    const implementation = implementationOf(services, member);
    const result = definition.output.safeParse(await implementation(request.data));
    if (!result.success) {
      return { ok: false, error: toErrorData(new Error(`the result does not match the contract (${result.error.issues.length} problems)`), action) };
    }
    return { ok: true, value: result.data };
  } catch (error) {
    return { ok: false, error: toErrorData(error, action) };
  }
}

/**
 * Subscribes to one event stream of the services. Events are parsed like results;
 * one that does not match the contract is dropped, because progress is advisory and a
 * malformed event must not break the backup or restore that emitted it — the
 * operation's own result still reports its outcome.
 */
export function subscribeService(services: ContractServer, member: SubscriptionMember, listener: Listener<unknown>): Unsubscribe {
  const { definition } = member;
  const subscribe = implementationOf(services, member) as (listener: Listener<unknown>) => Unsubscribe;
  return subscribe((event) => {
    const parsed = definition.event.safeParse(event);
    if (parsed.success) listener(parsed.data);
  });
}

/** The contract types every member precisely; walking it by name needs this one loose view. */
function implementationOf(services: ContractServer, member: ContractMember): (argument: unknown) => unknown {
  const service = (services as unknown as Record<string, Record<string, unknown> | undefined>)[member.service];
  const implementation = service?.[member.member];
  if (typeof implementation !== 'function') {
    throw new Error(`the services do not implement '${member.service}.${member.member}'`);
  }
  return (argument) => (implementation as (argument: unknown) => unknown).call(service, argument);
}

/** How a client reaches the server: IPC in the desktop app, HTTP for `drc serve`. */
export interface ContractTransport {
  call(channel: ChannelName, input: unknown): Promise<ResultEnvelope<unknown>>;
  listen(channel: ChannelName, listener: Listener<unknown>): Unsubscribe;
}

/**
 * Builds the typed client from the contract. A failed call rejects with plain
 * `ErrorData`, not an `Error`: Electron's contextBridge copies an Error into the page
 * as its message alone, which would lose the code, hints and retryable flag the
 * dashboard shows. Callers turn the rejection back into data with `toErrorData`.
 */
export function createContractClient(transport: ContractTransport): ContractClient {
  const client: Record<string, Record<string, unknown>> = {};
  for (const member of contractMembers) {
    const service = (client[member.service] ??= {});
    service[member.member] =
      member.kind === 'method'
        ? async (input: unknown): Promise<unknown> => {
            const action = `call '${member.service}.${member.member}'`;
            const result = await transport
              .call(member.channel, input)
              .catch((error: unknown): ResultEnvelope<unknown> => ({ ok: false, error: toErrorData(error, action) }));
            // eslint-disable-next-line @typescript-eslint/only-throw-error -- ErrorData on purpose, see above
            if (!result.ok) throw toErrorData(result.error, action);
            return result.value;
          }
        : (listener: Listener<unknown>): Unsubscribe => transport.listen(member.channel, listener);
  }
  return client as unknown as ContractClient;
}
