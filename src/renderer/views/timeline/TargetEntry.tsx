import { memo, useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { useStore } from 'zustand';
import { formatDuration, formatLocal, formatMoment, formatUtc } from '../../components/format.js';
import { parseMoment } from '../../components/moment.js';
import type { RecoveryModel } from './model.js';
import type { TargetKind, TimelineStore } from './target.js';

/** A typed UTC time may leave out the zone: in this field it means UTC. */
export function parseUtcEntry(text: string): Date | undefined {
  const trimmed = text.trim();
  return parseMoment(/(?:z|[+-]\d{2}:?\d{2})$/i.test(trimmed) ? trimmed : `${trimmed}Z`);
}

/** A typed local time may leave out the zone: in this field it means the workstation's. */
export function parseLocalEntry(text: string): Date | undefined {
  return parseMoment(text);
}

/**
 * A field kept in step with the target: it shows the target's value until the person
 * types, keeps what they typed while they type (always typeable, never rewritten under
 * their fingers), and hands it over on Enter or when focus leaves. A refused entry
 * stays in the field with the reason beside it.
 */
function SyncedField({
  label,
  shown,
  placeholder,
  hint,
  commit,
  list,
  active,
}: {
  label: string;
  shown: string;
  placeholder: string;
  hint: string;
  commit: (text: string) => string | undefined;
  list?: string;
  /** The target's kind is this field's: it was entered last. */
  active: boolean;
}) {
  const [typed, setTyped] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const id = useId();
  const take = () => {
    if (typed === undefined) return;
    const refused = commit(typed);
    setProblem(refused);
    if (refused === undefined) setTyped(undefined);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    take();
  };
  return (
    <form className={active ? 'target-field target-field-active' : 'target-field'} onSubmit={submit} noValidate>
      <label htmlFor={`${id}-input`}>
        {label}
        {active && <span className="target-field-badge"> (current target)</span>}
      </label>
      <input
        id={`${id}-input`}
        type="text"
        value={typed ?? shown}
        placeholder={placeholder}
        autoComplete="off"
        spellCheck={false}
        list={list}
        aria-invalid={problem !== undefined}
        aria-describedby={`${id}-hint${problem === undefined ? '' : ` ${id}-problem`}`}
        onChange={(event) => {
          setTyped(event.target.value);
        }}
        onBlur={take}
      />
      <p id={`${id}-hint`} className="hint">
        {hint}
      </p>
      {problem !== undefined && (
        <p id={`${id}-problem`} className="field-error">
          {problem}
        </p>
      )}
    </form>
  );
}

/** "3 min old", refreshed as the clock runs, for the frozen latest moment. */
function useAge(moment: number | undefined): string | undefined {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 15_000);
    return () => {
      clearInterval(timer);
    };
  }, []);
  return moment === undefined ? undefined : formatDuration(Math.max(0, now - moment) / 1000);
}

function LatestChoice({ store }: { store: TimelineStore }) {
  const kind = useStore(store, (state) => state.kind);
  const frozen = useStore(store, (state) => state.frozenLatest);
  const newer = useStore(store, (state) => state.newerLatest);
  const age = useAge(frozen);
  return (
    <div className={kind === 'latest' ? 'target-field target-field-active' : 'target-field'}>
      <button type="button" className="button" onClick={() => store.getState().chooseLatest()}>
        Use the latest moment
      </button>
      {kind === 'latest' && frozen !== undefined && (
        <p>
          The target is the latest moment as it was when chosen: {formatMoment(frozen)}, {age} old. The restore replays everything the repositories hold.
        </p>
      )}
      {kind === 'latest' && newer !== undefined && (
        <p>
          A newer latest moment is available: {formatMoment(newer)}.{' '}
          <button type="button" className="button" onClick={() => store.getState().takeNewerLatest()}>
            Take the newer latest moment
          </button>
        </p>
      )}
    </div>
  );
}

/** The names offered while typing; drawn once per timeline read, not on every move of the target. */
const RestorePointNames = memo(function RestorePointNames({ id, names }: { id: string; names: readonly string[] }) {
  return (
    <datalist id={id}>
      {names.map((restorePoint) => (
        <option key={restorePoint} value={restorePoint} />
      ))}
    </datalist>
  );
});

const kindWords: Readonly<Record<TargetKind, string>> = {
  time: 'a time',
  lsn: 'an LSN',
  xid: 'a transaction id',
  name: 'a restore point name',
  latest: 'the latest moment',
};

/** Exact entry: time in UTC and local side by side, LSN, transaction id, restore-point name, and Latest — each moves the slider. */
export function TargetEntry({ store, model }: { store: TimelineStore; model: RecoveryModel }) {
  const value = useStore(store, (state) => state.value);
  const kind = useStore(store, (state) => state.kind);
  const lsn = useStore(store, (state) => state.lsn);
  const xid = useStore(store, (state) => state.xid);
  const name = useStore(store, (state) => state.name);
  const listId = useId();
  // Newest first: the restore point a person reaches for is usually the last one.
  const names = useMemo(
    () => [...new Set(model.markers.flatMap((marker) => (marker.kind === 'restore-point' && marker.name !== undefined ? [marker.name] : [])))].reverse(),
    [model],
  );
  const takeTime = (parse: (text: string) => Date | undefined, example: string) => (text: string) => {
    const moment = parse(text);
    if (!moment) return `Not a date and time: write it like ${example}.`;
    store.getState().setTime(moment.getTime());
    return undefined;
  };
  return (
    <section aria-labelledby={`${listId}-heading`} className="target-entry">
      <h2 id={`${listId}-heading`}>Exact target</h2>
      <p>The target is {kindWords[kind]}: whatever was entered last. Press Enter or leave a field to use what you typed.</p>
      <div className="target-times">
        <SyncedField
          label="Target time (UTC)"
          shown={value === undefined ? '' : formatUtc(value)}
          placeholder="2026-12-04T14:05:30Z"
          hint="ISO 8601; without a zone, UTC."
          commit={takeTime(parseUtcEntry, '2026-12-04T14:05:30Z')}
          active={kind === 'time'}
        />
        <SyncedField
          label="Target time (local)"
          shown={value === undefined ? '' : formatLocal(value)}
          placeholder={value === undefined ? '2026-12-04T15:05:30' : formatLocal(value)}
          hint="ISO 8601; without a zone, this workstation's time."
          commit={takeTime(parseLocalEntry, '2026-12-04T15:05:30')}
          active={kind === 'time'}
        />
      </div>
      <div className="target-others">
        <SyncedField
          label="LSN"
          shown={lsn}
          placeholder="16/B374D848"
          hint="The slider moves to about where this position in WAL was written."
          commit={(text) => store.getState().setLsn(text)}
          active={kind === 'lsn'}
        />
        <SyncedField
          label="Transaction id"
          shown={xid}
          placeholder="1234567"
          hint="Recovery stops after this transaction commits; its moment is known only once recovery reaches it."
          commit={(text) => store.getState().setXid(text)}
          active={kind === 'xid'}
        />
        <SyncedField
          label="Restore point name"
          shown={name}
          placeholder={names[0] ?? 'before-deploy'}
          hint={`${String(names.length)} named restore points on this timeline; type to pick one from the list.`}
          commit={(text) => store.getState().setName(text)}
          list={listId}
          active={kind === 'name'}
        />
        <RestorePointNames id={listId} names={names} />
      </div>
      <LatestChoice store={store} />
    </section>
  );
}
