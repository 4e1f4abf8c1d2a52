import { z } from 'zod';
import { backupComponentSchema, backupPrioritySchema, type BackupStarted } from '../../../shared/contract/backups.js';
import { callService, type ContractServer, type MethodMember } from '../../../shared/contract/index.js';
import { DrcError, type ErrorData } from '../../../shared/errors.js';

/**
 * The seed's `POST /api/backups/create`: the request and response shapes the original
 * dashboard used, kept so its scripts and tests keep working. It is a thin adapter onto
 * `backups.start`; it can do nothing the contract cannot.
 */
export const seedBackupPath = '/api/backups/create';

const seedBackupRequestSchema = z
  .object({
    type: z.enum(['full', 'incremental', 'manual']),
    reason: z.string().trim().min(1).max(500).optional(),
    includeComponents: z.array(backupComponentSchema).min(1, 'name at least one component: database, files or configurations'),
    priorityLevel: backupPrioritySchema.default('normal'),
  })
  .strict()
  // The contract asks every backup for a reason; the seed made it optional, so only a
  // manual backup (whose whole point is the reason) must give one.
  .refine((request) => request.type !== 'manual' || request.reason !== undefined, { path: ['reason'], message: 'say why this manual backup is taken' });

type SeedResponse =
  | {
      success: true;
      data: {
        backupId: string;
        operationId: string;
        /** Seconds, from earlier backups' rates; null before the first backup. */
        estimatedDuration: number | null;
        scheduledComponents: string[];
        /** A backup is one recovery point (its consistent end); WAL archiving adds the rest. */
        recoveryPointsCreated: 1;
      };
    }
  | { success: false; error: ErrorData };

export async function createSeedBackup(services: ContractServer, backupsStart: MethodMember, body: unknown): Promise<SeedResponse> {
  const request = seedBackupRequestSchema.safeParse(body);
  if (!request.success) {
    return {
      success: false,
      error: new DrcError('USAGE', 'unable to start a backup with an invalid request', {
        hints: request.error.issues.map((issue) => `${issue.path.map(String).join('.') || 'request'}: ${issue.message}`),
      }).toData(),
    };
  }
  const { type, reason, includeComponents, priorityLevel } = request.data;
  const started = await callService(services, backupsStart, { type, reason: reason ?? `${type} backup requested through ${seedBackupPath}`, components: includeComponents, priority: priorityLevel });
  if (!started.ok) return { success: false, error: started.error };
  const { backupId, operationId, estimatedDurationSeconds, components } = started.value as BackupStarted;
  return {
    success: true,
    data: { backupId, operationId, estimatedDuration: estimatedDurationSeconds ?? null, scheduledComponents: components, recoveryPointsCreated: 1 },
  };
}
