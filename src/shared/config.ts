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
  })
  .strict();
export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

export const configSchema = z
  .object({
    cluster: clusterConfigSchema.optional(),
    encryption: z.object({ passphrase: secretReference }).strict(),
    repositories: z
      .array(repositoryConfigSchema)
      .min(1, 'configure at least one repository')
      .refine((repositories) => new Set(repositories.map((r) => r.name)).size === repositories.length, 'repository names must be unique'),
    stateDir: z.string().optional(),
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
