import { z } from 'zod'

/** What every masked secret looks like on the wire. Sending it back means "keep the stored value". */
export const SECRET_MASK = '********'

/** POSIX portable environment names: letters, digits and underscore, not starting with a digit. */
export const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/
export const MAX_NAME_LENGTH = 256
/** Values travel to devices inside compose environments; 32 KiB leaves room for certificates and keys. */
export const MAX_VALUE_BYTES = 32 * 1024
export const MAX_DESCRIPTION_LENGTH = 1000
export const MAX_VARS_PER_SET = 500

/** Compose service names: what docker compose accepts for a service key. */
export const containerNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/

export const containerName = z
  .string()
  .regex(containerNamePattern, 'must be a compose service name: letters, digits, dot, dash or underscore, at most 63 characters')

/** In a `u` regex, a surrogate class matches only halves that are not part of a pair. */
const loneSurrogate = /[\uD800-\uDFFF]/u

const envValue = z
  .string()
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_VALUE_BYTES, `must be at most ${MAX_VALUE_BYTES} bytes`)
  .refine((v) => !v.includes('\0'), 'must not contain NUL characters')
  // A lone UTF-16 surrogate (`"\ud800"` in JSON) has no UTF-8 form: storing it would silently turn it into U+FFFD.
  .refine((v) => !loneSurrogate.test(v), 'must be valid Unicode (no unpaired surrogate)')

const envVarObject = z
  .object({
    value: envValue,
    secret: z.boolean().default(false),
    description: z.string().max(MAX_DESCRIPTION_LENGTH).nullish(),
  })
  .strict()

/** One variable as written: a plain string is shorthand for a non-secret value. */
export const envVarInput = z
  .union([envValue, envVarObject], {
    // A union's own message is "Invalid input"; say what was wrong inside the form the caller used.
    error: (issue) => {
      const branches = (issue as { errors?: { path: PropertyKey[]; message: string }[][] }).errors ?? []
      const inner = (typeof issue.input === 'object' && issue.input !== null ? branches[1] : branches[0])?.[0]
      if (!inner) return 'must be a string or {"value", "secret", "description"}'
      return inner.path.length ? `${inner.path.map(String).join('.')}: ${inner.message}` : inner.message
    },
  })
  .transform((v) => (typeof v === 'string' ? { value: v, secret: false, description: null } : { value: v.value, secret: v.secret, description: v.description ?? null }))

/** A set of variables keyed by name. A bad name is reported with the name as the field. */
export const envVarSet = z.record(z.string(), envVarInput).superRefine((set, ctx) => {
  const names = Object.keys(set)
  if (names.length > MAX_VARS_PER_SET) ctx.addIssue({ code: 'custom', message: `at most ${MAX_VARS_PER_SET} variables per set` })
  for (const name of names) {
    if (name.length > MAX_NAME_LENGTH) ctx.addIssue({ code: 'custom', path: [name], message: `names are at most ${MAX_NAME_LENGTH} characters` })
    else if (!envNamePattern.test(name))
      ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid environment variable name (POSIX: letters, digits and underscore, not starting with a digit)' })
  }
})

export type EnvVarInput = z.output<typeof envVarInput>
export type EnvVarSetInput = z.output<typeof envVarSet>

/** Body of a level's PUT: `{"vars": {...}}`. */
export const envVarsBody = z.object({ vars: envVarSet }).strict()

/** Body of the software defaults PUT: all services, and per service. */
export const softwareEnvBody = z
  .object({
    vars: envVarSet.default({}),
    services: z.record(containerName, z.object({ vars: envVarSet }).strict()).default({}),
  })
  .strict()

export type SoftwareEnvInput = z.output<typeof softwareEnvBody>

/** Import document: the export's shape, so an export can be imported as it is. */
export const envImportBody = z
  .object({
    containers: z.record(containerName, z.object({ vars: envVarSet }).strict()),
  })
  .loose()
