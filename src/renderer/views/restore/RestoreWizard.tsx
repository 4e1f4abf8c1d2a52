import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Button, Checkbox, Dialog, FieldError, Heading, Input, Label, Modal, ModalOverlay, Radio, RadioGroup, Text, TextField } from 'react-aria-components';
import { toErrorData } from '../../../shared/contract/index.js';
import type { RestorePlan } from '../../../shared/contract/recovery.js';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import type { ErrorData } from '../../../shared/errors.js';
import { useConsole } from '../../app/console-context.js';
import { ErrorDetails } from '../../components/ErrorDetails.js';
import { formatBytes, formatDuration, formatMoment } from '../../components/format.js';
import { OperationProgress } from '../../operations/OperationProgress.js';
import { RestoreResult } from './RestoreResult.js';
import './restore.css';
import {
  confirmationMatches,
  confirmationPrompt,
  directoryName,
  emptyRestoreForm,
  formProblems,
  mediaWords,
  orderRepositories,
  planRequest,
  startRequest,
  type RestoreForm,
  type RestoreFormField,
} from './wizard.js';

type Step = 'what' | 'preview' | 'running';

const stepTitles: Readonly<Record<Step, string>> = {
  what: 'Step 1 of 3: What to restore',
  preview: 'Step 2 of 3: Source repository and preview (a dry run: nothing is written)',
  running: 'Step 3 of 3: Progress and result',
};

/** Any repository that can serve it, with fallback between copies: the default. */
const anyRepository = '';

function PlanPreview({ plan }: { plan: RestorePlan }) {
  return (
    <>
      <dl className="facts">
        <dt>Backup</dt>
        <dd>
          {plan.backupType} backup {plan.backupId}, ended {formatMoment(plan.backupStoppedAt)}, timeline {String(plan.timeline)}
        </dd>
        <dt>WAL replayed</dt>
        <dd>
          {plan.walFrom === undefined ? 'none' : `${plan.walFrom} to ${plan.walTo ?? plan.walFrom}`}, {String(plan.walSegments)} segments, {formatBytes(plan.walBytes)}
        </dd>
        <dt>Estimated time</dt>
        <dd>
          {plan.estimatedSeconds === undefined ? 'not known' : `about ${formatDuration(plan.estimatedSeconds)}`} ({plan.estimateBasis})
        </dd>
      </dl>
      <table className="data-table">
        <caption>Bytes per repository</caption>
        <thead>
          <tr>
            <th scope="col">Repository</th>
            <th scope="col">Can serve it</th>
            <th scope="col">Bytes</th>
          </tr>
        </thead>
        <tbody>
          {orderRepositories(plan.repositories).map((repository) => (
            <tr key={repository.repository}>
              <th scope="row">
                {repository.repository} ({mediaWords[repository.media]})
              </th>
              <td>{repository.canServe ? 'yes' : `no — ${repository.reason ?? 'no reason given'}`}</td>
              <td>{formatBytes(repository.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Checks</h4>
      <ul className="plan-checks">
        {plan.checks.map((check) => (
          <li key={check.name} className={check.ok ? 'check check-passed' : 'check check-failed'}>
            <strong>{check.ok ? 'Passed' : 'Failed'}:</strong> {check.message}
            {!check.ok && check.hint !== undefined && <p className="hint">What to do: {check.hint}</p>}
          </li>
        ))}
      </ul>
      <p className="plan-verdict">
        {plan.ready ? 'Ready to restore: every check passed and a repository can serve it.' : 'Not ready to restore: fix the failed checks, or choose another source or target.'}
      </p>
    </>
  );
}

/**
 * The last gate before a restore writes: an alertdialog whose focus starts on Cancel, and
 * whose action stays disabled until the target's name is typed. Enter in the field never
 * confirms.
 */
function ConfirmRestore({ form, targetWords, onCancel, onConfirm, starting, error }: { form: RestoreForm; targetWords: string; onCancel: () => void; onConfirm: (typed: string) => void; starting: boolean; error: ErrorData | undefined }) {
  const [typed, setTyped] = useState('');
  const matches = confirmationMatches(form, typed);
  const what = form.mode === 'cluster' ? `the whole cluster into ${form.targetDir.trim()}` : `the tables ${form.tables.trim()} into a new schema of the live database`;
  return (
    <ModalOverlay
      className="modal-overlay"
      isOpen
      isDismissable={!starting}
      onOpenChange={(open) => {
        if (!open) onCancel();
      }}
    >
      <Modal className="modal">
        <Dialog role="alertdialog" className="dialog">
          <Heading slot="title">{form.mode === 'cluster' ? `Restore into ${directoryName(form.targetDir)}?` : 'Restore the tables into the live database?'}</Heading>
          <p>
            This restores {what}, to {targetWords}.{' '}
            {form.mode === 'cluster' ? 'Nothing existing is overwritten: the directory must be empty.' : 'Existing tables are not touched: the copies go into a new schema.'}
          </p>
          <TextField className="field" value={typed} onChange={setTyped}>
            <Label>{confirmationPrompt(form)}</Label>
            <Input
              autoComplete="off"
              spellCheck={false}
              onKeyDown={(event) => {
                // Enter alone never confirms a restore.
                if (event.key === 'Enter') event.preventDefault();
              }}
            />
            <Text slot="description">{matches ? 'The name matches.' : 'The Restore button stays disabled until the name matches.'}</Text>
          </TextField>
          {error && (
            <div role="alert">
              <p>The restore did not start.</p>
              <ErrorDetails error={error} />
            </div>
          )}
          <div className="dialog-actions">
            {/* The APG alertdialog pattern starts on the least destructive action. */}
            <Button className="button" autoFocus onPress={onCancel}>
              Cancel
            </Button>
            <button
              type="button"
              className="button button-danger"
              disabled={!matches || starting}
              onClick={() => {
                onConfirm(typed);
              }}
            >
              {starting ? 'Starting…' : 'Restore'}
            </button>
          </div>
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}

/**
 * The point-in-time restore wizard, opened from the timeline's target: what to restore,
 * from which repository, a dry-run preview, a typed confirmation, then progress and
 * the result. Each step's heading takes focus, so a screen reader says where the person
 * is; closing returns focus to the button that opened it.
 */
export function RestoreWizard({ target, targetWords, onStarted, onClose }: { target: RecoveryTarget; targetWords: string; onStarted: (operationId: string) => void; onClose: () => void }) {
  const { client } = useConsole();
  const [step, setStep] = useState<Step>('what');
  const [form, setForm] = useState<RestoreForm>(emptyRestoreForm);
  const [problems, setProblems] = useState<Partial<Record<RestoreFormField, string>>>({});
  const [survey, setSurvey] = useState<RestorePlan>();
  const [from, setFrom] = useState(anyRepository);
  const [preview, setPreview] = useState<RestorePlan>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorData>();
  const [confirming, setConfirming] = useState(false);
  const [startError, setStartError] = useState<ErrorData>();
  const [operationId, setOperationId] = useState<string>();
  const stepHeading = useRef<HTMLHeadingElement>(null);
  const modeId = useId();
  const firstStep = useRef(true);

  useEffect(() => {
    // The dialog focuses its first field on opening; later steps announce themselves by taking focus on their heading.
    if (firstStep.current) {
      firstStep.current = false;
      return;
    }
    stepHeading.current?.focus();
  }, [step]);

  const change = (patch: Partial<RestoreForm>) => {
    setForm((current) => ({ ...current, ...patch }));
  };

  const plan = async (source: string): Promise<RestorePlan | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await client.recovery.plan(planRequest(form, target, source === anyRepository ? undefined : source));
    } catch (failure) {
      setError(toErrorData(failure, 'preview the restore'));
      return undefined;
    } finally {
      setBusy(false);
    }
  };

  const submitWhat = (event: FormEvent) => {
    event.preventDefault();
    const found = formProblems(form);
    setProblems(found);
    if (Object.keys(found).length > 0) return;
    void plan(anyRepository).then((result) => {
      if (!result) return;
      setSurvey(result);
      setPreview(result);
      setFrom(anyRepository);
      setStep('preview');
    });
  };

  /** A different source is a different dry run: the preview always shows the one the restore would do. */
  const chooseSource = (source: string) => {
    setFrom(source);
    setPreview(undefined);
    void plan(source).then(setPreview);
  };

  const confirm = (typed: string) => {
    setBusy(true);
    setStartError(undefined);
    const start = startRequest(form, target, from === anyRepository ? undefined : from, preview?.backupId, typed);
    const started = start.mode === 'cluster' ? client.recovery.restore(start.request) : client.recovery.restoreTables(start.request);
    started.then(
      ({ operationId: id }) => {
        setBusy(false);
        setConfirming(false);
        setOperationId(id);
        onStarted(id);
        setStep('running');
      },
      (failure: unknown) => {
        setBusy(false);
        setStartError(toErrorData(failure, 'start the restore'));
      },
    );
  };

  const servable = survey ? orderRepositories(survey.repositories) : [];

  return (
    <ModalOverlay
      className="modal-overlay"
      isOpen
      isDismissable={!busy && !confirming}
      onOpenChange={(open) => {
        if (!open) onClose();
      }}
    >
      <Modal className="modal modal-wide">
        <Dialog className="dialog restore-wizard">
          <Heading slot="title">Restore to a point in time</Heading>
          <p>Target: {targetWords}</p>
          <h3 ref={stepHeading} tabIndex={-1} className="wizard-step">
            {stepTitles[step]}
          </h3>

          {step === 'what' && (
            <form onSubmit={submitWhat} noValidate>
              <RadioGroup
                className="field"
                value={form.mode}
                aria-describedby={modeId}
                onChange={(mode) => {
                  change({ mode: mode === 'tables' ? 'tables' : 'cluster' });
                  setProblems({});
                }}
              >
                <Label>What to restore</Label>
                <Radio value="cluster" autoFocus={form.mode === 'cluster'}>
                  The whole cluster, into a directory
                </Radio>
                <Radio value="tables">Tables, into a new schema of the live database</Radio>
              </RadioGroup>
              <p id={modeId} className="hint">
                A whole-cluster restore writes a new data directory and touches no running server. A table restore recovers a scratch copy and copies the tables into a new schema; existing tables are not changed.
              </p>
              {form.mode === 'cluster' ? (
                <>
                  <TextField className="field" isRequired isInvalid={problems.targetDir !== undefined} value={form.targetDir} onChange={(targetDir) => change({ targetDir })} validationBehavior="aria">
                    <Label>Target directory</Label>
                    <Input placeholder="/var/lib/postgresql/restored" autoComplete="off" spellCheck={false} />
                    <Text slot="description">An absolute path to a new or empty directory; the restore never overwrites.</Text>
                    <FieldError>{problems.targetDir}</FieldError>
                  </TextField>
                  <Checkbox isSelected={form.pause} onChange={(pause) => change({ pause })}>
                    Pause at the target instead of promoting (check the data first, then resume)
                  </Checkbox>
                </>
              ) : (
                <>
                  <TextField className="field" isRequired isInvalid={problems.tables !== undefined} value={form.tables} onChange={(tables) => change({ tables })} validationBehavior="aria">
                    <Label>Tables</Label>
                    <Input placeholder="public.orders, public.customers" autoComplete="off" spellCheck={false} />
                    <Text slot="description">Comma-separated, each as schema.table.</Text>
                    <FieldError>{problems.tables}</FieldError>
                  </TextField>
                  <TextField className="field" isInvalid={problems.schema !== undefined} value={form.schema} onChange={(schema) => change({ schema })} validationBehavior="aria">
                    <Label>New schema name</Label>
                    <Input placeholder="restored" autoComplete="off" spellCheck={false} />
                    <Text slot="description">Created in the live database for the copies; leave empty for a name chosen from the target.</Text>
                    <FieldError>{problems.schema}</FieldError>
                  </TextField>
                  <TextField className="field" value={form.database} onChange={(database) => change({ database })}>
                    <Label>Database in the backup</Label>
                    <Input autoComplete="off" spellCheck={false} />
                    <Text slot="description">Where the tables are in the backup; leave empty for the configured cluster&apos;s database.</Text>
                  </TextField>
                  <TextField className="field" value={form.into} onChange={(into) => change({ into })}>
                    <Label>Live database to copy into</Label>
                    <Input placeholder="host=db1 dbname=shop" autoComplete="off" spellCheck={false} />
                    <Text slot="description">A conninfo or URI; leave empty for the configured cluster.</Text>
                  </TextField>
                </>
              )}
              {error && (
                <div role="alert">
                  <ErrorDetails error={error} />
                </div>
              )}
              <div className="dialog-actions">
                <button type="submit" className="button button-primary" disabled={busy}>
                  {busy ? 'Previewing…' : 'Preview the restore'}
                </button>
                <button type="button" className="button" onClick={onClose}>
                  Cancel
                </button>
              </div>
            </form>
          )}

          {step === 'preview' && survey && (
            <>
              <RadioGroup className="field" value={from} onChange={chooseSource} isDisabled={busy}>
                <Label>Source repository</Label>
                <Radio value={anyRepository}>Any repository that can serve it, falling back to another copy if one is damaged</Radio>
                {servable.map((repository) => (
                  <Radio key={repository.repository} value={repository.repository} isDisabled={!repository.canServe}>
                    {repository.repository} ({mediaWords[repository.media]}): {repository.canServe ? `can serve it, ${formatBytes(repository.bytes)} to read` : `cannot serve it — ${repository.reason ?? 'no reason given'}`}
                  </Radio>
                ))}
              </RadioGroup>
              <h4>Preview</h4>
              {busy && <p role="status">Previewing the restore from {from === anyRepository ? 'any repository' : from}…</p>}
              {error && (
                <div role="alert">
                  <ErrorDetails error={error} />
                </div>
              )}
              {preview && <PlanPreview plan={preview} />}
              <div className="dialog-actions">
                <button type="button" className="button button-primary" disabled={!preview?.ready || busy} onClick={() => setConfirming(true)}>
                  Restore…
                </button>
                <button type="button" className="button" onClick={() => setStep('what')}>
                  Back
                </button>
                <button type="button" className="button" onClick={onClose}>
                  Cancel
                </button>
              </div>
              {confirming && (
                <ConfirmRestore
                  form={form}
                  targetWords={targetWords}
                  starting={busy}
                  error={startError}
                  onCancel={() => {
                    setConfirming(false);
                    setStartError(undefined);
                  }}
                  onConfirm={confirm}
                />
              )}
            </>
          )}

          {step === 'running' && operationId !== undefined && (
            <>
              <OperationProgress
                operationId={operationId}
                label="Restore progress"
                renderResult={(operation) => <RestoreResult operation={operation} />}
                onDismissed={onClose}
              />
              <div className="dialog-actions">
                <button type="button" className="button" onClick={onClose}>
                  Close (the restore and its result stay in the timeline view)
                </button>
              </div>
            </>
          )}
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}
