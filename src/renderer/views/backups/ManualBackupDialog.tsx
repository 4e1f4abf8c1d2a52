import { useId, useState, type FormEvent } from 'react';
import { Button, Checkbox, Dialog, DialogTrigger, FieldError, Heading, Input, Label, Modal, ModalOverlay, Radio, RadioGroup, Text, TextField } from 'react-aria-components';
import { useStore } from 'zustand';
import { ErrorDetails } from '../../components/ErrorDetails.js';
import { formatLocal, formatUtc } from '../../components/format.js';
import { parseMoment } from '../../components/moment.js';
import { emptyBackupForm, toStartRequest, type BackupForm, type BackupFormField } from './backup-form.js';
import type { BackupsStore } from './store.js';

/** Under the typed time: the moment it means, in UTC and local time side by side, or why it means nothing yet. */
function momentPreview(text: string): string {
  if (text.trim() === '') return 'Type a date and time, for example 2026-12-06T02:00 (local) or 2026-12-06T01:00Z (UTC).';
  const moment = parseMoment(text);
  return moment ? `Starts at ${formatUtc(moment)} UTC, ${formatLocal(moment)} local.` : 'Not a date and time yet: use the form 2026-12-06T02:00.';
}

/**
 * "Manual backup": why, what and when. Focus moves into the dialog when it opens and back
 * to the button when it closes; Enter in any field submits; a refused start keeps the
 * dialog open with the error, so nothing typed is lost.
 */
export function ManualBackupDialog({ store }: { store: BackupsStore }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState<BackupForm>(emptyBackupForm);
  const [problems, setProblems] = useState<Partial<Record<BackupFormField, string>>>({});
  const starting = useStore(store, (state) => state.starting);
  const startError = useStore(store, (state) => state.startError);
  const normalId = useId();
  const highId = useId();

  const change = (patch: Partial<BackupForm>) => {
    setForm((current) => ({ ...current, ...patch }));
  };

  const openChange = (isOpen: boolean) => {
    if (isOpen) {
      setForm(emptyBackupForm);
      setProblems({});
    }
    setOpen(isOpen);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = toStartRequest(form, new Date());
    if (!result.ok) {
      setProblems(result.problems);
      return;
    }
    setProblems({});
    void store
      .getState()
      .start(result.request)
      .then((started) => {
        if (started) setOpen(false);
      });
  };

  return (
    <DialogTrigger isOpen={open} onOpenChange={openChange}>
      <Button data-testid="manual-backup-btn" className="button button-primary">
        Manual backup
      </Button>
      <ModalOverlay className="modal-overlay" isDismissable={!starting}>
        <Modal className="modal">
          <Dialog className="dialog">
            <form onSubmit={submit} noValidate>
              <Heading slot="title">Manual backup</Heading>
              <TextField
                className="field"
                isRequired
                isInvalid={problems.reason !== undefined}
                value={form.reason}
                onChange={(reason) => {
                  change({ reason });
                }}
                validationBehavior="aria"
                autoFocus
              >
                <Label>Reason</Label>
                <Input data-testid="backup-reason" />
                <Text slot="description">Shown in the backup history and on the timeline, e.g. "before deploy 4.2".</Text>
                <FieldError>{problems.reason}</FieldError>
              </TextField>

              <RadioGroup
                className="field"
                value={form.type}
                onChange={(type) => {
                  change({ type: type === 'incremental' ? 'incremental' : 'full' });
                }}
              >
                <Label>Type</Label>
                <Radio value="full">Full</Radio>
                <Radio value="incremental">Incremental (only what changed since the last backup)</Radio>
              </RadioGroup>

              <fieldset className="field">
                <legend>Components</legend>
                <Checkbox isSelected isDisabled>
                  Database (the data directory, always included)
                </Checkbox>
                <Checkbox
                  isSelected={form.configurations}
                  onChange={(configurations) => {
                    change({ configurations });
                  }}
                >
                  Configuration files (postgresql.conf, pg_hba.conf, pg_ident.conf outside the data directory, and the console&apos;s configuration)
                </Checkbox>
                <Checkbox
                  isSelected={form.files}
                  onChange={(files) => {
                    change({ files });
                  }}
                >
                  Files (the directories listed under &quot;files&quot; in the configuration)
                </Checkbox>
              </fieldset>

              <RadioGroup
                className="field"
                value={form.priority}
                onChange={(priority) => {
                  change({ priority: priority === 'high' ? 'high' : 'normal' });
                }}
              >
                <Label>Priority</Label>
                <Radio value="normal" aria-describedby={normalId}>
                  Normal
                </Radio>
                <p id={normalId} className="hint option-hint">
                  Spread checkpoint: the backup starts once PostgreSQL has spread its checkpoint writes out, gentle on a busy server.
                </p>
                <Radio value="high" aria-describedby={highId}>
                  High
                </Radio>
                <p id={highId} className="hint option-hint">
                  Immediate checkpoint: the backup starts at once, with a burst of disk writes.
                </p>
              </RadioGroup>

              <RadioGroup
                className="field"
                value={form.when}
                onChange={(when) => {
                  change({ when: when === 'at' ? 'at' : 'now' });
                }}
              >
                <Label>When</Label>
                <Radio value="now">Now</Radio>
                <Radio value="at">At a chosen time (a one-off scheduled run)</Radio>
              </RadioGroup>
              {form.when === 'at' && (
                <TextField
                  className="field"
                  isRequired
                  isInvalid={problems.at !== undefined}
                  value={form.at}
                  onChange={(at) => {
                    change({ at });
                  }}
                  validationBehavior="aria"
                >
                  <Label>Start at</Label>
                  <Input placeholder="2026-12-06T02:00" />
                  <Text slot="description" aria-live="polite">
                    {momentPreview(form.at)}
                  </Text>
                  <FieldError>{problems.at}</FieldError>
                </TextField>
              )}

              {startError && (
                <div role="alert">
                  <p>The backup did not start.</p>
                  <ErrorDetails error={startError} />
                </div>
              )}
              <div className="dialog-actions">
                <button type="submit" className="button button-primary" disabled={starting}>
                  {starting ? 'Starting…' : 'Start backup'}
                </button>
                <button
                  type="button"
                  className="button"
                  onClick={() => {
                    setOpen(false);
                  }}
                >
                  Cancel
                </button>
              </div>
            </form>
          </Dialog>
        </Modal>
      </ModalOverlay>
    </DialogTrigger>
  );
}
