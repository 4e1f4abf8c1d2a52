import { z } from 'zod';

/**
 * The configuration file. Secrets are never in it: only references (`env:VAR` or
 * `keychain:ACCOUNT`), resolved at use and never written back.
 */
const secretReference = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|keychain:[^\s]+)$/, 'must be a secret reference: env:VARIABLE or keychain:ACCOUNT (the secret itself never goes in the config)');

const repositoryName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1-40 lowercase letters, digits, - or _, starting with a letter or digit');

const common = {
  name: repositoryName,
  /** Overrides the driver's default (cloud targets are offsite, local ones are not). */
  offsite: z.boolean().optional(),
};

const localRepository = z.object({ ...common, type: z.literal('local'), path: z.string().min(1) }).strict();
const removableRepository = z.object({ ...common, type: z.literal('removable'), path: z.string().min(1) }).strict();
const s3Repository = z
  .object({
    ...common,
    type: z.literal('s3'),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    region: z.string().default('us-east-1'),
    endpoint: z.string().url().optional(),
    forcePathStyle: z.boolean().default(false),
    accessKeyId: secretReference.optional(),
    secretAccessKey: secretReference.optional(),
  })
  .strict();
const gcsRepository = z
  .object({
    ...common,
    type: z.literal('gcs'),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    apiEndpoint: z.string().url().optional(),
    projectId: z.string().optional(),
    credentials: secretReference.optional(),
  })
  .strict();

export const repositoryConfigSchema = z.discriminatedUnion('type', [localRepository, removableRepository, s3Repository, gcsRepository]);
export type RepositoryConfig = z.infer<typeof repositoryConfigSchema>;

export const clusterConfigSchema = z
  .object({
    name: z.string().min(1),
    host: z.string().default('localhost'),
    port: z.number().int().min(1).max(65535).default(5432),
    user: z.string().optional(),
    database: z.string().default('postgres'),
    password: secretReference.optional(),
    /**
     * The cluster's data directory, when DR Console runs on the database host and may read
     * it: backups then read its files directly (as pgBackRest does) instead of having the
     * server stream them, and an incremental skips unchanged files without reading them.
     */
    dataDirectory: z.string().min(1).optional(),
    /**
     * TLS, with libpq's names and meanings, for SQL sessions and the replication stream
     * alike: sslmode (default prefer, as libpq), the CA certificate that signed the server's
     * (or "system" for public authorities), and a client certificate and key for `cert`
     * authentication. Paths are relative to the config file; the key's passphrase is a
     * secret reference.
     */
    sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
    sslrootcert: z.string().min(1).optional(),
    sslcert: z.string().min(1).optional(),
    sslkey: z.string().min(1).optional(),
    sslpassword: secretReference.optional(),
  })
  .strict()
  .superRefine((cluster, context) => {
    if ((cluster.sslmode === 'verify-ca' || cluster.sslmode === 'verify-full') && cluster.sslrootcert === undefined) {
      context.addIssue({ code: 'custom', path: ['sslrootcert'], message: `sslmode '${cluster.sslmode}' verifies the server certificate and needs the CA certificate that signed it (a file, or "system" for public authorities)` });
    }
    // libpq refuses the public roots below verify-full: any site with a public certificate would pass.
    if (cluster.sslrootcert === 'system' && cluster.sslmode !== 'verify-full') {
      context.addIssue({ code: 'custom', path: ['sslrootcert'], message: '"system" (public authorities) is only safe with sslmode "verify-full"' });
    }
    if ((cluster.sslcert === undefined) !== (cluster.sslkey === undefined)) {
      context.addIssue({ code: 'custom', path: [cluster.sslcert === undefined ? 'sslcert' : 'sslkey'], message: 'a client certificate needs both sslcert and sslkey' });
    }
  });
export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

/**
 * Grandfather-father-son retention by backup type (`drc expire`), in days counted from
 * when a backup stopped. The newest backup of each repository is always kept, and so is
 * the newest one that stopped `fullDays` ago or earlier, so point-in-time recovery reaches
 * back a whole `fullDays`. WAL is kept from the start of the oldest kept backup on. Chunks
 * no kept manifest references are removed once written more than `chunkGraceHours` ago
 * (a running backup's chunks are not referenced yet).
 */
export const retentionConfigSchema = z
  .object({
    fullDays: z.number().int().positive().default(30),
    archiveDays: z.number().int().positive().default(365),
    incrementalDays: z.number().int().positive().default(7),
    manualDays: z.number().int().positive().default(7),
    chunkGraceHours: z.number().positive().default(24),
  })
  .strict();
export type RetentionConfig = z.infer<typeof retentionConfigSchema>;

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM');
const weekday = z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);
/** Slots fall at the same clock times every day (on the hour for 60), so the interval must divide a day. */
const everyMinutes = z
  .number()
  .int()
  .positive()
  .max(1440)
  .refine((minutes) => 1440 % minutes === 0, 'must divide a day (1440 minutes): 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720 or 1440');

/**
 * When the scheduler (`drc daemon`, the desktop app) runs each job, in the local time of
 * the workstation. A slot missed while the workstation slept or was off is run once when
 * the scheduler next runs, however many slots were missed.
 */
export const scheduleConfigSchema = z
  .object({
    walStreaming: z.boolean().default(true),
    restorePoint: z.object({ enabled: z.boolean().default(true), everyMinutes: everyMinutes.default(60) }).strict().default({ enabled: true, everyMinutes: 60 }),
    fullBackup: z.object({ enabled: z.boolean().default(true), at: clockTime.default('01:00') }).strict().default({ enabled: true, at: '01:00' }),
    archiveBackup: z.object({ enabled: z.boolean().default(true), on: weekday.default('sunday'), at: clockTime.default('02:00') }).strict().default({ enabled: true, on: 'sunday', at: '02:00' }),
    restoreTestAfterFull: z.boolean().default(true),
    expire: z.object({ enabled: z.boolean().default(true), at: clockTime.default('03:00') }).strict().default({ enabled: true, at: '03:00' }),
    verify: z.object({ enabled: z.boolean().default(true), on: weekday.default('saturday'), at: clockTime.default('04:00') }).strict().default({ enabled: true, on: 'saturday', at: '04:00' }),
    /** A job that could not run (server down, repository locked or unreachable) is tried again after this long; 0 waits for its next slot. */
    retryAfterMinutes: z.number().int().nonnegative().default(30),
    /** On stop, running jobs get this long to finish before they are asked to abandon their work. */
    stopTimeoutSeconds: z.number().int().nonnegative().default(120),
  })
  .strict();
export type ScheduleConfig = z.infer<typeof scheduleConfigSchema>;

/** Recovery objectives and alert thresholds. */
export const objectivesConfigSchema = z
  .object({
    rpoMinutes: z.number().positive().default(60),
    rtoMinutes: z.number().positive().default(240),
    /** Alert when a removable medium has not been seen (or verified) for this many days. */
    removableUnseenDays: z.number().positive().default(7),
    /** Alert when the slot retains more WAL than this on the server. */
    retainedWalWarningMiB: z.number().positive().default(1024),
  })
  .strict();
export type ObjectivesConfig = z.infer<typeof objectivesConfigSchema>;

type CloudRepository = Extract<RepositoryConfig, { type: 's3' | 'gcs' }>;

/** Where a cloud repository's objects live: service, endpoint and bucket, then its prefix without edge slashes. */
function cloudPlace(repository: CloudRepository): { bucket: string; prefix: string } {
  const endpoint = repository.type === 's3' ? (repository.endpoint ?? `aws:${repository.region}`) : (repository.apiEndpoint ?? 'google');
  return { bucket: `${repository.type} ${endpoint} ${repository.bucket}`, prefix: repository.prefix.replace(/^\/+|\/+$/g, '') };
}

/**
 * Two repositories in one bucket under the same prefix (or one prefix inside the other)
 * are one copy counted twice: 3-2-1 would be reported met with a single copy, and one
 * repository's expiry would delete the other's objects. Directories are checked where
 * the config is loaded, since that needs the file system.
 */
function refuseSharedBuckets(repositories: RepositoryConfig[], context: z.RefinementCtx): void {
  const seen: Array<{ index: number; name: string; place: { bucket: string; prefix: string } }> = [];
  repositories.forEach((repository, index) => {
    if (repository.type !== 's3' && repository.type !== 'gcs') return;
    const place = cloudPlace(repository);
    const other = seen.find((entry) => entry.place.bucket === place.bucket && placesOverlap(entry.place.prefix, place.prefix));
    if (other) {
      context.addIssue({
        code: 'custom',
        path: [index, 'prefix'],
        message: `bucket '${repository.bucket}' with prefix '${repository.prefix}' is where repository '${other.name}' (repositories[${String(other.index)}]) keeps its objects: two repositories in one place are one copy, not two; give each its own bucket or prefix`,
      });
    }
    seen.push({ index, name: repository.name, place });
  });
}

function placesOverlap(a: string, b: string): boolean {
  return a === b || a === '' || b === '' || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

export const configSchema = z
  .object({
    cluster: clusterConfigSchema.optional(),
    encryption: z.object({ passphrase: secretReference }).strict(),
    repositories: z
      .array(repositoryConfigSchema)
      .min(1, 'configure at least one repository')
      .refine((repositories) => new Set(repositories.map((r) => r.name)).size === repositories.length, 'repository names must be unique')
      .superRefine(refuseSharedBuckets),
    stateDir: z.string().optional(),
    /**
     * Directories kept with a backup that asks for the `files` component (scripts,
     * certificates, an application's uploads), as absolute paths on the database host.
     * A restore puts them beside the data directory, never inside it.
     */
    files: z.array(z.string().min(1).refine((path) => path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path), 'must be an absolute path')).optional(),
    retention: retentionConfigSchema.default(retentionConfigSchema.parse({})),
    schedule: scheduleConfigSchema.default(scheduleConfigSchema.parse({})),
    objectives: objectivesConfigSchema.default(objectivesConfigSchema.parse({})),
  })
  .strict();
export type DrcConfig = z.infer<typeof configSchema>;

/** One line per problem, naming the field by its path: `repositories[2].bucket: …`. */
export function describeConfigIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path
      .map((part, index) => (typeof part === 'number' ? `[${String(part)}]` : index === 0 ? String(part) : `.${String(part)}`))
      .join('');
    return `${path || '(top level)'}: ${issue.message}`;
  });
}
