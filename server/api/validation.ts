import { z, type ZodError, type ZodType } from 'zod'
import { NotFoundError, ValidationError } from '../errors.js'

/** Turns the first zod issue into a 400 that names the field, e.g. `body.name: Too small`. */
export function validationErrorFrom(error: ZodError, prefix = ''): ValidationError {
  const issue = error.issues[0]!
  let path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]!]
  const field = [prefix, ...path].filter(Boolean).join('.')
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message
  return new ValidationError(field, message)
}

export function parseInput<T extends ZodType>(schema: T, input: unknown, prefix = ''): z.output<T> {
  const result = schema.safeParse(input)
  if (!result.success) throw validationErrorFrom(result.error, prefix)
  return result.data
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return uuidPattern.test(value)
}

/** A path id that is not a UUID cannot name anything: answer 404, as for an unknown one. */
export function uuidParam(value: string | undefined, what: string): string {
  if (!value || !isUuid(value)) throw new NotFoundError(what)
  return value.toLowerCase()
}

export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
})

export interface Page<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

export function page<T>(items: T[], total: number, query: { limit: number; offset: number }): Page<T> {
  return { items, total, limit: query.limit, offset: query.offset }
}

/** Escapes LIKE wildcards so a search for `50%` finds "50%" and nothing else. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}
