import { z, type ZodType } from 'zod'
import type { AnyRouteDefinition } from './route-registry.js'

function jsonSchema(schema: ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
}

/** `/api/devices/:id` → `/api/devices/{id}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')
}

const errorSchema = {
  type: 'object',
  required: ['error', 'code'],
  properties: { error: { type: 'string' }, code: { type: 'string' }, field: { type: 'string' } },
}

/** Builds the OpenAPI 3.1 document from the route registry, so it cannot drift from the routes. */
export function buildOpenApiDocument(definitions: readonly AnyRouteDefinition[], info: { version: string; serverUrl: string }) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const def of definitions) {
    const path = openApiPath(def.path)
    const parameters: unknown[] = [...def.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }))
    if (def.query) {
      const schema = jsonSchema(def.query) as { properties?: Record<string, unknown>; required?: string[] }
      for (const [name, prop] of Object.entries(schema.properties ?? {})) {
        parameters.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: prop })
      }
    }
    const operation: Record<string, unknown> = {
      summary: def.summary,
      tags: [def.tag],
      'x-required-role': def.access,
      security: def.access === 'public' ? [] : [{ bearer: [] }, { session: [] }],
      parameters,
      responses: {
        [String(def.status ?? 200)]: { description: 'success' },
        default: { description: 'error', content: { 'application/json': { schema: errorSchema } } },
      },
    }
    if (def.streaming) operation['x-streaming'] = true
    if (def.body) operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(def.body) } } }
    paths[path] ??= {}
    paths[path]![def.method] = operation
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Edgetainer API', version: info.version },
    servers: [{ url: info.serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A session JWT from /api/auth/login or an API token (et_…)' },
        session: { type: 'apiKey', in: 'cookie', name: 'edgetainer_session' },
      },
    },
    paths,
  }
}
