import fc from 'fast-check'

/** The parts of an OpenAPI operation the fuzzer reads. */
export interface FuzzRoute {
  method: string
  /** OpenAPI path, e.g. `/api/devices/{id}`. */
  path: string
  pathParams: string[]
  query: Record<string, JsonSchema>
  body: JsonSchema | undefined
  streaming: boolean
  access: string
}

export interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  allOf?: JsonSchema[]
  additionalProperties?: JsonSchema | boolean
  maxLength?: number
  minLength?: number
  format?: string
  pattern?: string
  minimum?: number
  maximum?: number
  minItems?: number
}

/** One request the fuzzer sends. */
export interface FuzzCase {
  method: string
  url: string
  auth: 'admin' | 'anonymous' | 'forged'
  contentType: string | undefined
  body: string | undefined
}

/** Every operation in an OpenAPI document. */
export function routesOf(doc: { paths: Record<string, Record<string, any>> }): FuzzRoute[] {
  const routes: FuzzRoute[] = []
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const params = (op.parameters ?? []) as { name: string; in: string; schema: JsonSchema }[]
      routes.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: Object.fromEntries(params.filter((p) => p.in === 'query').map((p) => [p.name, p.schema ?? {}])),
        body: op.requestBody?.content?.['application/json']?.schema,
        streaming: Boolean(op['x-streaming']),
        access: op['x-required-role'],
      })
    }
  }
  return routes
}

const MB = 1024 * 1024

/** Percent-encodes the UTF-8 bytes of any string (encodeURIComponent throws on lone surrogates). */
export function percentEncode(s: string): string {
  let out = ''
  for (const byte of Buffer.from(s, 'utf8')) out += /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}

/** Strings an attacker tries: NUL, control and format characters, unicode of every plane, lone surrogates, SQL and path tricks. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\u0000'.repeat(64), '\ud800', 'x\udfff', '\u202e\u200b\ufeff', '🙂'.repeat(300), "'; drop table users; --", '../../etc/passwd', '%00', '${PATH}', '\\', '\r\n\r\n', ' '),
  fc.string({ maxLength: 20 }).map((s) => `${s}\u0000${s}`),
)

/** Values of every JSON type, including ones no schema expects. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e-308, 0.5),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(hostileString, fc.integer()), { maxLength: 4 }),
  fc.dictionary(hostileString, fc.oneof(hostileString, fc.integer()), { maxKeys: 3 }),
)

/** A value nested `depth` levels deep (arrays or objects). */
export function nested(depth: number, inObjects: boolean): unknown {
  let value: unknown = 'bottom'
  for (let i = 0; i < depth; i++) value = inObjects ? { a: value } : [value]
  return value
}

/** Rare, expensive values: big strings and deep nesting. */
const hugeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(64 * 1024, 900 * 1024).map((n) => 'x'.repeat(n)),
  fc.constantFrom(10, 40, 2000).chain((d) => fc.boolean().map((o) => nested(d, o))),
  fc.constant(Array.from({ length: 20_000 }, (_, i) => i)),
)

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type
  if (schema.type) return [schema.type]
  return []
}

/** A value shaped by the schema (so handlers are reached), with hostile content where it has freedom. */
export function shapedValue(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return anyJson
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => shapedValue(s, depth + 1)))
  if (schema.allOf?.length) return shapedValue(schema.allOf[0], depth + 1)
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum?.length) return fc.constantFrom(...schema.enum)
  const arbs: fc.Arbitrary<unknown>[] = []
  for (const type of typesOf(schema)) {
    if (type === 'string') {
      arbs.push(hostileString)
      if (schema.format === 'uuid') arbs.push(fc.uuid())
      if (schema.maxLength) arbs.push(fc.constant('y'.repeat(schema.maxLength)), fc.constant('y'.repeat(schema.maxLength + 1)))
      arbs.push(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/))
    } else if (type === 'integer' || type === 'number') {
      arbs.push(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1.5, 1e308))
    } else if (type === 'boolean') arbs.push(fc.boolean())
    else if (type === 'null') arbs.push(fc.constant(null))
    else if (type === 'array') arbs.push(fc.array(shapedValue(schema.items, depth + 1), { maxLength: 4 }))
    else if (type === 'object') arbs.push(shapedObject(schema, depth))
  }
  return arbs.length ? fc.oneof(...arbs) : anyJson
}

/**
 * A value the schema accepts, except that free text (strings with no pattern
 * or format) carries hostile content: NUL, unicode, lone surrogates. These
 * pass validation and reach the handlers and the database.
 */
export function validValue(schema: JsonSchema | undefined, known: string[], depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return fc.constant('x')
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => validValue(s, known, depth + 1)))
  if (schema.allOf?.length) return validValue(schema.allOf[0], known, depth + 1)
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum?.length) return fc.constantFrom(...schema.enum)
  const type = typesOf(schema).find((t) => t !== 'null') ?? 'string'
  if (type === 'string') {
    if (schema.format === 'uuid') return known.length ? fc.oneof(fc.constantFrom(...known), fc.uuid()) : fc.uuid()
    if (schema.pattern) {
      try {
        return fc.stringMatching(new RegExp(schema.pattern)).filter((v) => v.length >= (schema.minLength ?? 0) && v.length <= (schema.maxLength ?? Infinity))
      } catch {
        return fc.constant('x')
      }
    }
    const min = schema.minLength ?? 0
    const max = schema.maxLength ?? 200
    return hostileString.map((v) => (v.length < min ? v + 'y'.repeat(min - v.length) : v.slice(0, max))).filter((v) => v.length >= min && v.length <= max)
  }
  if (type === 'integer') return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 100_000 })
  if (type === 'number') return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 100_000, noNaN: true })
  if (type === 'boolean') return fc.boolean()
  if (type === 'array') return fc.array(validValue(schema.items, known, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, 3) })
  if (type === 'object') {
    const props = Object.entries(schema.properties ?? {})
    const required = schema.required ?? []
    const record = fc.record(Object.fromEntries(props.map(([name, s]) => [name, validValue(s, known, depth + 1)])), {
      requiredKeys: required.filter((n) => schema.properties?.[n]),
    }) as fc.Arbitrary<Record<string, unknown>>
    // A record type (env vars: name → value) has no properties: give it a few hostile entries.
    if (!props.length && typeof schema.additionalProperties === 'object') {
      return fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), validValue(schema.additionalProperties, known, depth + 1), { maxKeys: 3 })
    }
    return record
  }
  return fc.constant(null)
}

/** Properties from the schema, each possibly missing, wrong-typed or extra. */
function shapedObject(schema: JsonSchema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries(schema.properties ?? {})
  const fields = Object.fromEntries(props.map(([name, s]) => [name, fc.oneof({ weight: 4, arbitrary: shapedValue(s, depth + 1) }, { weight: 1, arbitrary: anyJson })]))
  const record = fc.record(fields, { requiredKeys: [] }) as fc.Arbitrary<Record<string, unknown>>
  const extra = fc.dictionary(hostileString, anyJson, { maxKeys: 2 })
  const required = (schema.required ?? []).filter((n) => schema.properties?.[n])
  return fc.tuple(record, fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extra }), fc.boolean()).map(([r, e, fillRequired]) => {
    const out: Record<string, unknown> = { ...e, ...r }
    // Half the time every required field is present, so validation passes and the handler (and the database) see the values.
    if (fillRequired) for (const name of required) if (!(name in out)) out[name] = 'x'
    return out
  })
}

/** Path segments: real ids (to reach handlers), and encodings meant to confuse routing and decoding. */
export function pathParam(known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: known.length ? fc.constantFrom(...known) : fc.uuid() },
    { weight: 1, arbitrary: fc.uuid() },
    {
      weight: 3,
      arbitrary: fc.constantFrom('%00', 'a%00b', '..', '%2e%2e', '%2F', '%2F..%2F..%2Fetc%2Fpasswd', '%E0%A4%A', '%', '%%', '%u0000', '.', '%20', 'x'.repeat(5000), '%F0%9F%99%82', '00000000-0000-0000-0000-000000000000', 'ABCDEF00-0000-0000-0000-000000000000', '-1', '1e400', 'NaN'),
    },
    { weight: 2, arbitrary: hostileString.filter((s) => s.length > 0).map(percentEncode) },
  )
}

/** A query string: the schema's parameters with hostile values, plus unknown and repeated ones. */
function queryString(route: FuzzRoute): fc.Arbitrary<string> {
  const names = Object.keys(route.query)
  const pair = fc.tuple(names.length ? fc.oneof(fc.constantFrom(...names), hostileString) : hostileString, fc.oneof(hostileString, fc.integer().map(String), fc.constantFrom('-1', '1e9', 'true', '', '%00')))
  return fc.array(pair, { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&'))
}

/** The body and its content type: JSON shaped by the schema or of any shape, huge or deep, broken JSON, other media types. */
function bodyFor(route: FuzzRoute, known: string[]): fc.Arbitrary<{ contentType: string | undefined; body: string | undefined }> {
  const json = (value: unknown) => ({ contentType: 'application/json', body: JSON.stringify(value) })
  return fc.oneof(
    { weight: route.body ? 8 : 0, arbitrary: validValue(route.body, known).map(json) },
    { weight: 8, arbitrary: shapedValue(route.body ?? { type: 'object' }).map(json) },
    { weight: 2, arbitrary: anyJson.map(json) },
    { weight: 1, arbitrary: hugeValue.map((v) => json({ name: v, value: v })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { contentType: 'application/json', body: '{"name": ' },
        { contentType: 'application/json', body: '\u0000' },
        { contentType: 'application/json', body: '['.repeat(100_000) + ']'.repeat(100_000) },
        { contentType: 'application/json', body: JSON.stringify({ s: 'z'.repeat(MB + 10) }) },
        { contentType: 'application/json; charset=utf-7', body: '{}' },
        { contentType: 'application/json', body: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}' },
        { contentType: 'text/plain', body: '{"name":"plain"}' },
        { contentType: 'application/x-www-form-urlencoded', body: 'name=a&name=b&role=admin' },
        { contentType: 'multipart/form-data; boundary=xyz', body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.yml"\r\n\r\nservices: {}\u0000\r\n--xyz--\r\n' },
        { contentType: 'multipart/form-data; boundary=xyz', body: '--xyz\r\ngarbage' },
        { contentType: undefined, body: 'raw' },
        { contentType: undefined, body: undefined },
      ),
    },
  )
}

/** Cases for one route: its method and path with fuzzed params, query, body and caller. */
export function casesFor(route: FuzzRoute, known: (param: string) => string[]): fc.Arbitrary<FuzzCase> {
  const params = route.pathParams.map((name) => pathParam(known(name)))
  return fc
    .record({
      params: fc.tuple(...params),
      query: fc.oneof(fc.constant(''), queryString(route)),
      body: bodyFor(route, known('id')),
      auth: fc.constantFrom('admin' as const, 'admin' as const, 'anonymous' as const, 'forged' as const),
    })
    .map(({ params, query, body, auth }) => {
      let i = 0
      const path = route.path.replace(/\{[^}]+\}/g, () => params[i++] as string)
      const hasBody = route.method !== 'GET' && route.method !== 'DELETE'
      return {
        method: route.method,
        url: query ? `${path}?${query}` : path,
        auth,
        contentType: hasBody ? body.contentType : undefined,
        body: hasBody ? body.body : undefined,
      }
    })
}
