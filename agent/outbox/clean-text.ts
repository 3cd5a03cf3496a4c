import type { OutboxEventInput } from '../../shared/agent-wire.js'

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * Text the gateway can store: container output may carry NUL bytes (which
 * PostgreSQL text refuses) and bytes that are not UTF-8 (already turned
 * into U+FFFD when decoded, but a split surrogate pair can survive slicing).
 * NUL becomes U+2400 (␀) so the reader still sees that something was there.
 */
export function cleanText(text: string): string {
  return text.replace(/\u0000/g, '\u2400').replace(LONE_SURROGATE, '\uFFFD')
}

/** The gateway refuses longer text; cut here (with a mark) so the event is delivered shortened rather than refused. */
export const MAX_TEXT = 60_000

function cut(text: string): string {
  if (text.length <= MAX_TEXT) return text
  // Not through the middle of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[MAX_TEXT - 1]!) ? MAX_TEXT - 1 : MAX_TEXT
  return `${text.slice(0, end)}… [cut: ${text.length} characters]`
}

/** Every string field of an event, cleaned and bounded; other values untouched. */
export function cleanEvent<E extends OutboxEventInput>(event: E): E {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(event)) out[key] = typeof value === 'string' ? cut(cleanText(value)) : value
  return out as E
}
