import { sql, type Expression, type SqlBool } from 'kysely'
import { z } from 'zod'

/**
 * Device labels and Kubernetes-style label selectors: `site=north,hw in (pi4,pi5),!legacy`.
 * Requirements are joined by commas and all must hold:
 *
 *   key = value | key == value | key != value      (`!=` also matches devices without the key)
 *   key in (v1, v2) | key notin (v1, v2)          (`notin` also matches devices without the key)
 *   key | !key                                     (the label exists / does not)
 *
 * No npm library parses this grammar without pulling in a Kubernetes client, so this is a
 * small hand-written tokenizer and recursive-descent parser; test/unit/label-selector.test.ts
 * fuzzes it. Errors say where and what was expected.
 */

/** Keys: letters, digits, `.`, `_`, `-`, `/`, starting and ending with a letter or digit, at most 63 characters. */
export const labelKeyPattern = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/
/** Values: empty, or as keys without `/`. */
export const labelValuePattern = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/
export const MAX_LABELS = 64
export const MAX_SELECTOR_LENGTH = 2000

export const labelsSchema = z
  .record(
    z.string().regex(labelKeyPattern, 'label keys are 1-63 letters, digits, dot, dash, underscore or slash, starting and ending with a letter or digit'),
    z.string().regex(labelValuePattern, 'label values are at most 63 letters, digits, dot, dash or underscore, starting and ending with a letter or digit'),
  )
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)

export type Labels = Record<string, string>

export type Requirement =
  | { key: string; op: 'eq' | 'ne'; values: [string] }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'absent'; values: [] }

export class SelectorError extends Error {
  override name = 'SelectorError'
}

type Token = { kind: 'word' | 'op' | 'punct'; text: string; at: number }

function tokenize(input: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (c === ' ' || c === '\t') {
      i++
      continue
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', text: c, at: i++ })
      continue
    }
    if (c === '=' || c === '!') {
      const two = input.slice(i, i + 2)
      if (two === '==' || two === '!=') {
        tokens.push({ kind: 'op', text: two, at: i })
        i += 2
      } else tokens.push({ kind: 'op', text: c, at: i++ })
      continue
    }
    const start = i
    while (i < input.length && /[A-Za-z0-9._/-]/.test(input[i]!)) i++
    if (i === start) throw new SelectorError(`unexpected character ${JSON.stringify(c)} at position ${start + 1}`)
    tokens.push({ kind: 'word', text: input.slice(start, i), at: start })
  }
  return tokens
}

/** Parses a selector; the empty selector (or only spaces) matches every device. */
export function parseSelector(input: string): Requirement[] {
  if (input.length > MAX_SELECTOR_LENGTH) throw new SelectorError(`a selector is at most ${MAX_SELECTOR_LENGTH} characters`)
  const tokens = tokenize(input)
  let pos = 0
  const peek = () => tokens[pos]
  const where = (t: Token | undefined) => (t ? `at position ${t.at + 1}` : 'at the end')
  const expected = (what: string): never => {
    const t = peek()
    throw new SelectorError(`expected ${what} ${where(t)}${t ? `, found ${JSON.stringify(t.text)}` : ''}`)
  }
  const key = (): string => {
    const t = peek()
    if (t?.kind !== 'word' || t.text === 'in' || t.text === 'notin') return expected('a label key')
    if (!labelKeyPattern.test(t.text)) throw new SelectorError(`${JSON.stringify(t.text)} ${where(t)} is not a valid label key`)
    pos++
    return t.text
  }
  const value = (): string => {
    const t = peek()
    if (t?.kind !== 'word') return expected('a label value')
    if (!labelValuePattern.test(t.text)) throw new SelectorError(`${JSON.stringify(t.text)} ${where(t)} is not a valid label value`)
    pos++
    return t.text
  }
  const requirement = (): Requirement => {
    if (peek()?.kind === 'op' && peek()!.text === '!') {
      pos++
      return { key: key(), op: 'absent', values: [] }
    }
    const k = key()
    const t = peek()
    if (!t || (t.kind === 'punct' && t.text === ',')) return { key: k, op: 'exists', values: [] }
    if (t.kind === 'op' && (t.text === '=' || t.text === '==' || t.text === '!=')) {
      pos++
      // `key=` with nothing after it: an empty value, as Kubernetes reads it.
      const next = peek()
      const v = !next || (next.kind === 'punct' && next.text === ',') ? '' : value()
      return { key: k, op: t.text === '!=' ? 'ne' : 'eq', values: [v] }
    }
    if (t.kind === 'word' && (t.text === 'in' || t.text === 'notin')) {
      pos++
      if (peek()?.text !== '(') expected('"(" after ' + t.text)
      pos++
      const values = [value()]
      while (peek()?.text === ',') {
        pos++
        values.push(value())
      }
      if (peek()?.text !== ')') expected('"," or ")"')
      pos++
      return { key: k, op: t.text, values }
    }
    return expected('"=", "==", "!=", "in", "notin" or ","')
  }
  const out: Requirement[] = []
  if (!tokens.length) return out
  out.push(requirement())
  while (pos < tokens.length) {
    if (peek()?.text !== ',') expected('","')
    pos++
    out.push(requirement())
  }
  return out
}

export function matchesSelector(requirements: readonly Requirement[], labels: Labels): boolean {
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key)
    const v = has ? labels[r.key] : undefined
    switch (r.op) {
      case 'eq':
        return v === r.values[0]
      case 'ne':
        return v !== r.values[0]
      case 'in':
        return v !== undefined && r.values.includes(v)
      case 'notin':
        return v === undefined || !r.values.includes(v)
      case 'exists':
        return has
      case 'absent':
        return !has
    }
  })
}

/** The same test as `matchesSelector`, as SQL over a jsonb labels column. */
export function selectorSql(requirements: readonly Requirement[], column = 'labels'): Expression<SqlBool> {
  if (!requirements.length) return sql<SqlBool>`true`
  const parts = requirements.map((r) => {
    const v = sql`(${sql.ref(column)} ->> ${r.key})`
    switch (r.op) {
      case 'eq':
        return sql`${v} = ${r.values[0]}`
      case 'ne':
        return sql`${v} is distinct from ${r.values[0]}`
      case 'in':
        return sql`${v} in (${sql.join(r.values)})`
      case 'notin':
        return sql`(${v} is null or ${v} not in (${sql.join(r.values)}))`
      case 'exists':
        return sql`${v} is not null`
      case 'absent':
        return sql`${v} is null`
    }
  })
  return sql<SqlBool>`(${sql.join(parts, sql` and `)})`
}

/** A selector as text again, normalised: what the API echoes back. */
export function formatSelector(requirements: readonly Requirement[]): string {
  return requirements
    .map((r) => {
      switch (r.op) {
        case 'eq':
          return `${r.key}=${r.values[0]}`
        case 'ne':
          return `${r.key}!=${r.values[0]}`
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`
        case 'exists':
          return r.key
        case 'absent':
          return `!${r.key}`
      }
    })
    .join(',')
}

/** A zod field for a selector in a body or query: parsed, with the parser's message as the 400. */
export const selectorField = z
  .string()
  .max(MAX_SELECTOR_LENGTH)
  .transform((text, ctx) => {
    try {
      return { text: formatSelector(parseSelector(text)), requirements: parseSelector(text) }
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message })
      return z.NEVER
    }
  })
