import { isMap, isScalar, LineCounter, parseDocument, type Node, type Pair } from 'yaml'
import { ValidationError } from '../errors.js'
import { containerNamePattern } from '../env/env-var-schema.js'

/** Compose files are small; anything larger is almost certainly the wrong file. */
export const MAX_COMPOSE_BYTES = 256 * 1024

export interface ComposeSummary {
  /** Service names in file order. */
  services: string[]
}

/**
 * Checks a docker compose file before it becomes a version: it parses, has a
 * `services` mapping, and every service names an image (devices cannot
 * build). Errors are 400s naming the compose field and the line.
 * `field` names the request field that carried the file, for parse errors.
 */
export function validateCompose(text: string, field = 'docker_compose_yaml'): ComposeSummary {
  if (Buffer.byteLength(text, 'utf8') > MAX_COMPOSE_BYTES) throw new ValidationError(field, `must be at most ${MAX_COMPOSE_BYTES} bytes`)
  if (!text.trim()) throw new ValidationError(field, 'is empty: a compose file needs a services mapping')

  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const parseError = doc.errors[0]
  if (parseError) {
    const at = lines.linePos(parseError.pos[0])
    const reason = parseError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    throw new ValidationError(field, `not valid YAML at line ${at.line}, column ${at.col}: ${reason}`)
  }

  const lineOf = (node: Node | Pair | null | undefined): string => {
    const range = node && 'range' in node ? node.range : node && 'key' in node && isScalar(node.key) ? node.key.range : undefined
    return range ? ` (line ${lines.linePos(range[0]).line})` : ''
  }

  const root = doc.contents
  if (!isMap(root)) throw new ValidationError(field, `must be a mapping with a services key${lineOf(root as Node | null)}`)
  const servicesPair = root.items.find((p) => isScalar(p.key) && p.key.value === 'services')
  if (!servicesPair) throw new ValidationError('services', 'is required: a compose file needs a services mapping')
  const services = servicesPair.value as Node | null
  if (!isMap(services)) throw new ValidationError('services', `must be a mapping of service names to services${lineOf(servicesPair)}`)
  if (services.items.length === 0) throw new ValidationError('services', `must name at least one service${lineOf(servicesPair)}`)

  const names: string[] = []
  for (const pair of services.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : ''
    if (!containerNamePattern.test(name)) {
      throw new ValidationError(`services.${name}`, `is not a valid service name: letters, digits, dot, dash or underscore${lineOf(pair)}`)
    }
    const service = pair.value as Node | null
    if (!isMap(service)) throw new ValidationError(`services.${name}`, `must be a mapping${lineOf(pair)}`)
    const imagePair = service.items.find((p) => isScalar(p.key) && p.key.value === 'image')
    const image = imagePair && isScalar(imagePair.value) ? imagePair.value.value : undefined
    if (!imagePair) throw new ValidationError(`services.${name}.image`, `is required: service ${name} has no image${lineOf(pair)}`)
    if (typeof image !== 'string' || !image.trim()) {
      throw new ValidationError(`services.${name}.image`, `must be an image reference such as nginx:1.27${lineOf(imagePair)}`)
    }
    names.push(name)
  }
  return { services: names }
}

/** Service names of a compose file that already passed validation (stored versions). */
export function composeServices(text: string): string[] {
  const doc = parseDocument(text)
  const root = doc.contents
  if (!isMap(root)) return []
  const services = root.get('services')
  if (!isMap(services)) return []
  return services.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')).filter(Boolean)
}
