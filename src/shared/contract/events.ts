import { z } from 'zod';

/** The Events view: the operation history every repository holds, filtered and exported. */
export const eventOutcomeSchema = z.enum(['success', 'failure', 'partial']);

export const eventQuerySchema = z.object({
  types: z.array(z.string()).optional(),
  outcomes: z.array(eventOutcomeSchema).optional(),
  /** ISO 8601 bounds, inclusive. */
  since: z.string().optional(),
  until: z.string().optional(),
  /** Newest first, at most this many. */
  limit: z.number().int().min(1).max(100_000).default(2000),
});
export type EventQuery = z.input<typeof eventQuerySchema>;

export const eventEntrySchema = z.object({
  id: z.string(),
  time: z.string(),
  type: z.string(),
  outcome: eventOutcomeSchema,
  operator: z.string(),
  host: z.string(),
  summary: z.string(),
  repositories: z.array(z.string()),
  details: z.record(z.string(), z.unknown()),
});
export type EventEntry = z.infer<typeof eventEntrySchema>;

export const eventPageSchema = z.object({
  events: z.array(eventEntrySchema),
  /** Matching events beyond `limit`. */
  truncated: z.boolean(),
  types: z.array(z.string()),
  unreachable: z.array(z.object({ repository: z.string(), message: z.string() })),
  unreadable: z.array(z.object({ object: z.string(), repositories: z.array(z.string()), message: z.string() })),
});
export type EventPage = z.infer<typeof eventPageSchema>;

export const eventExportRequestSchema = eventQuerySchema.extend({ format: z.enum(['json', 'csv']) });
export type EventExportRequest = z.input<typeof eventExportRequestSchema>;

export const eventExportSchema = z.object({ fileName: z.string(), mediaType: z.string(), content: z.string() });
export type EventExport = z.infer<typeof eventExportSchema>;
