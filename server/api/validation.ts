import { z, type ZodError, type ZodType } from 'zod'
import { NotFoundError, ValidationError } from '../errors.js'
import type { NotFoundCode } from '../error-codes.js'

/** Turns the first zod issue into a 400 that names the field, e.g. `body.name: Too small`. */
export function validationErrorFrom(error: ZodError, prefix = ''): ValidationError {
  const issue = error.issues[0]!
  let path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]!]
  const field = [prefix, ...path].filter(Boolean).join('.')
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message
  return new ValidationError(field, message)
}

/** Deeper than any of our schemas goes; deeper input is an attack on the validator's recursion. */
export const MAX_INPUT_DEPTH = 32

/** A UTF-16 surrogate half without its other half: it has no UTF-8 form, and jsonb refuses its `\udxxx` escape. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Checks what no schema can store, before the schema runs: NUL in any string
 * or key (PostgreSQL text refuses it, error 22021, and no process can take it
 * in argv or env), unpaired surrogates (text would store U+FFFD instead, and
 * the audit log's jsonb refuses them) and nesting deeper than MAX_INPUT_DEPTH.
 * Iterative, so hostile nesting cannot exhaust the stack here either.
 */
export function checkStorable(input: unknown, prefix = ''): void {
  const stack: { value: unknown; path: string[] }[] = [{ value: input, path: prefix ? [prefix] : [] }]
  while (stack.length) {
    const { value, path } = stack.pop()!
    if (typeof value === 'string') {
      if (value.includes('\0')) throw new ValidationError(path.join('.'), 'must not contain NUL characters')
      if (LONE_SURROGATE.test(value)) throw new ValidationError(path.join('.'), 'must be valid Unicode (no unpaired surrogate)')
      continue
    }
    if (!value || typeof value !== 'object') continue
    if (path.length - (prefix ? 1 : 0) >= MAX_INPUT_DEPTH) throw new ValidationError(path.join('.'), `nested deeper than ${MAX_INPUT_DEPTH} levels`)
    for (const [key, child] of Object.entries(value)) {
      if (key.includes('\0') || LONE_SURROGATE.test(key)) throw new ValidationError(path.join('.'), 'field names must not contain NUL characters or unpaired surrogates')
      stack.push({ value: child, path: [...path, key] })
    }
  }
}

/**
 * Checks storability (no NUL, bounded depth), then the schema. `itemsCheckedApart` names a
 * top-level array whose items the caller refuses one by one (the agent's outbox events), so
 * one bad item does not refuse the whole request.
 */
export function parseInput<T extends ZodType>(schema: T, input: unknown, prefix = '', options: { itemsCheckedApart?: string } = {}): z.output<T> {
  const apart = options.itemsCheckedApart
  if (apart && input && typeof input === 'object' && !Array.isArray(input)) {
    const { [apart]: _items, ...rest } = input as Record<string, unknown>
    checkStorable(rest, prefix)
  } else checkStorable(input, prefix)
  const result = schema.safeParse(input)
  if (!result.success) throw validationErrorFrom(result.error, prefix)
  return result.data
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return uuidPattern.test(value)
}

/** A path id that is not a UUID cannot name anything: answer 404, as for an unknown one. */
export function uuidParam(value: string | undefined, code: NotFoundCode, what: string): string {
  if (!value || !isUuid(value)) throw new NotFoundError(code, what)
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
