import { z } from 'zod';

/** What `drc repo info` and the dashboard show about one repository (never key material). */
export const repositoryInfoSchema = z.object({
  repository: z.string(),
  type: z.string(),
  location: z.string(),
  media: z.enum(['cloud', 'removable', 'fixed']),
  offsite: z.boolean(),
  initialized: z.boolean(),
  formatVersion: z.number().int().optional(),
  repositoryId: z.string().optional(),
  createdAt: z.string().optional(),
  keySlots: z.array(z.object({ id: z.string(), label: z.string(), createdAt: z.string() })),
  objects: z.record(z.string(), z.object({ count: z.number().int(), bytes: z.number() })),
  error: z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) }).optional(),
});
export type RepositoryInfo = z.infer<typeof repositoryInfoSchema>;

export const objectProblemSchema = z.object({
  object: z.string(),
  problem: z.enum(['missing', 'corrupt']),
  detail: z.string(),
  referencedBy: z.string().optional(),
  repaired: z.boolean(),
  repairedFrom: z.string().optional(),
});
export type ObjectProblem = z.infer<typeof objectProblemSchema>;

export const repositoryVerifyResultSchema = z.object({
  repository: z.string(),
  objectsChecked: z.number().int(),
  bytesChecked: z.number(),
  problems: z.array(objectProblemSchema),
  error: z.object({ code: z.string(), message: z.string(), hints: z.array(z.string()) }).optional(),
});
export type RepositoryVerifyResult = z.infer<typeof repositoryVerifyResultSchema>;

export const verifyReportSchema = z.object({
  ok: z.boolean(),
  repaired: z.boolean(),
  repositories: z.array(repositoryVerifyResultSchema),
});
export type VerifyReport = z.infer<typeof verifyReportSchema>;

export const syncReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  objectsCopied: z.number().int(),
  bytesCopied: z.number(),
  objectsAlreadyPresent: z.number().int(),
  skippedCorrupt: z.array(z.string()),
});
export type SyncReport = z.infer<typeof syncReportSchema>;

/** Progress of long repository work (verify, sync), streamed to the CLI and the dashboard. */
export const repositoryProgressSchema = z.object({
  operation: z.enum(['verify', 'sync', 'init']),
  repository: z.string(),
  done: z.number().int(),
  total: z.number().int(),
  bytes: z.number(),
});
export type RepositoryProgress = z.infer<typeof repositoryProgressSchema>;

export const repositorySelectionSchema = z.object({ repository: z.string().optional() });
export const verifyRequestSchema = repositorySelectionSchema.extend({ repair: z.boolean().default(false) });
export const syncRequestSchema = z.object({ from: z.string(), to: z.string() });
