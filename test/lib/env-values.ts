import { execFileSync } from 'node:child_process'
import fc from 'fast-check'

/** Exactly `bytes` UTF-8 bytes of a mix that exercises every escape at once, repeated. */
function longValue(bytes: number): string {
  const unit = `a'b"c\\d$e\${F}g\nh\ri\tj é😀 #k=l `
  let out = ''
  while (Buffer.byteLength(out + unit) <= bytes) out += unit
  return out + 'x'.repeat(bytes - Buffer.byteLength(out))
}

/**
 * Values that broke, or could break, some layer between the API and the
 * container: env-file quoting (v1 python-dotenv vs v2 compose-go dotenv),
 * compose interpolation, YAML scalars (1.1 vs 1.2, line breaks, control
 * characters), the shell. Sorted names matter: TRAIL_BS is followed by
 * another variable, which an env file with a trailing `\` used to swallow.
 */
export const HARD_VALUES: [string, string][] = [
  ['SQ', "p'ss"],
  ['DQ', 'say "hi"'],
  ['QUOTES_MIXED', `it's "quoted" 'twice'`],
  ['QUOTED_WHOLE_SINGLE', "'single'"],
  ['QUOTED_WHOLE_DOUBLE', '"double"'],
  ['BS', 'back\\slash'],
  ['BS_N', 'a\\nb\\t'],
  ['TRAIL_BS', 'ends with\\'],
  ['TRAIL_BS_NEXT', 'must survive'],
  ['DOUBLE_BS', '\\\\'],
  ['DOLLAR', '$HOME'],
  ['DOLLAR_ALONE', '$'],
  ['DOLLAR_END', 'cost$'],
  ['DOLLAR_DIGIT', '$1 and $@'],
  ['BRACED', '${HOME}'],
  ['BRACED_DEFAULT', '${UNSET:-default} ${UNSET?err} ${X:+y}'],
  ['BRACED_OPEN', '${'],
  ['DOLLARS', '$$'],
  ['DOLLARS_BRACED', '$${HOME}$$$'],
  ['NEWLINES', 'line1\nline2\n'],
  ['NEWLINE_ONLY', '\n'],
  ['CRLF', 'a\r\nb\r'],
  ['TABS', '\tx\t'],
  ['SPACES', '  padded  '],
  ['SPACE_NEWLINE', 'a \n b'],
  ['HASH', '# not a comment'],
  ['HASH_MID', 'a #b'],
  ['EQUALS', 'a=b==c='],
  ['EMPTY', ''],
  ['UNICODE', 'héllo wörld ✓ 日本語'],
  ['ASTRAL', '😀 𝄞 \u{10FFFF}'],
  ['CONTROL', '\x01\x07\x08\x1b\x7f\u0085\u00a0\u2028\u2029\ufeff\ufffe\uffff'],
  // YAML 1.1 line breaks after a real one: docker-compose v1's `config` printed this as YAML that no 1.2 parser reads.
  ['LINE_SEPARATORS', 'a\n\u2028b\n\u0085c\u2029'],
  ['YAML_WORDS', 'true'],
  ['YAML_NULL', '~'],
  ['YAML_NUMBER', '0x1F'],
  ['YAML_MARKERS', '---\n...\n%YAML 1.1\n- item\n? key\n: value\n&a *a !tag |'],
  ['JSON', '{"a": [1, 2], "b": null}'],
  ['SHELL', '`id` $(id) ; && | > <'],
  ['EXPORT', 'export X=1'],
  ['LONG', longValue(32 * 1024)],
]

/** Strings built from the characters and fragments that need escaping somewhere, mixed with arbitrary code points. */
export const hardValueArbitrary: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom("'", '"', '\\', '$', '$$', '${', '}', '{', ':-', '\n', '\r', '\t', ' ', '#', '=', '\u0085', '\u2028', '\x7f', '\ufeff', 'é', '😀', 'A', '_'),
      fc.string({ unit: 'binary', maxLength: 3 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''))

/** Values an environment can hold: no NUL, no unpaired surrogate (the gateway refuses both). */
export const carriableValue = (v: string) => !v.includes('\0') && !/[\uD800-\uDFFF]/u.test(v)

/** A running container's environment as its PID 1 holds it, byte for byte (`/proc/1/environ`, NUL-separated). */
export function containerEnv(containerId: string): Map<string, Buffer> {
  const raw = execFileSync('docker', ['exec', containerId, 'cat', '/proc/1/environ'], { maxBuffer: 64 * 1024 * 1024 })
  const env = new Map<string, Buffer>()
  let start = 0
  while (start < raw.length) {
    let end = raw.indexOf(0, start)
    if (end < 0) end = raw.length
    const entry = raw.subarray(start, end)
    const eq = entry.indexOf(0x3d)
    env.set(entry.subarray(0, eq).toString('latin1'), Buffer.from(entry.subarray(eq + 1)))
    start = end + 1
  }
  return env
}

/** The names whose bytes in the container differ from the UTF-8 of what was sent, with both sides for the failure message. */
export function envMismatches(expected: Record<string, string>, actual: Map<string, Buffer>): { name: string; sent: string; got: string | null }[] {
  return Object.entries(expected)
    .filter(([name, value]) => !actual.get(name)?.equals(Buffer.from(value, 'utf8')))
    .map(([name, value]) => ({ name, sent: JSON.stringify(value).slice(0, 200), got: actual.has(name) ? JSON.stringify(actual.get(name)!.toString('utf8')).slice(0, 200) : null }))
}
