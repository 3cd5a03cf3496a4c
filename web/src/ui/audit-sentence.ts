/**
 * Audit rows as sentences: "admin created the fleet “Pumps”", not "fleet.create fleet 88f4f019".
 * The verb phrase says what happened; the object names the target by what people call it.
 */
const phrases: Record<string, string> = {
  'auth.login': 'signed in',
  'auth.login_failed': 'failed to sign in',
  'auth.logout': 'signed out',
  'token.create': 'created the API token',
  'token.revoke': 'revoked the API token',
  'user.create': 'created the user',
  'user.update': 'changed the user',
  'user.delete': 'deleted the user',
  'user.password': 'changed the password of',
  'fleet.create': 'created the fleet',
  'fleet.update': 'changed the fleet',
  'fleet.delete': 'deleted the fleet',
  'device.create': 'added the device',
  'device.register': 'registered the device',
  'device.update': 'changed the device',
  'device.move': 'moved the device',
  'device.delete': 'deleted the device',
  'device.restart': 'restarted the agent on',
  'device.command': 'ran a command on',
  'device.command.refused': 'was refused a command on',
  'container.restart': 'restarted a container on',
  'terminal.open': 'opened a terminal on',
  'terminal.close': 'closed a terminal on',
  'software.create': 'created the software',
  'software.update': 'changed the software',
  'software.upload': 'uploaded a version of',
  'software.delete': 'deleted the software',
  'software.env.update': 'changed the default variables of',
  'deployment.create': 'deployed',
  'deployment.delete': 'removed the deployment of',
  'rollout.create': 'created the rollout',
  'rollout.start': 'started the rollout',
  'rollout.pause': 'paused the rollout',
  'rollout.resume': 'resumed the rollout',
  'rollout.cancel': 'cancelled the rollout',
  'rollout.rollback': 'rolled back the rollout',
  'rollout.retry': 'retried the failed devices of the rollout',
  'rollout.advance': 'started the next wave of the rollout',
  'service.create': 'exposed the service',
  'service.update': 'changed the service',
  'service.delete': 'removed the service',
  'service.auth_disabled': 'made public the service',
  'provision.token.create': 'created the registration token',
  'provision.token.revoke': 'revoked the registration token',
  'certificate.renew': 'renewed the certificate for',
  'env.update': 'changed the variables of',
}

const nouns: Record<string, string> = {
  api_token: 'API token',
  registration_token: 'registration token',
  exposed_service: 'service',
}

/** `fleet.create` with no entry in the table: "create fleet" reads worse than "did fleet.create". */
function fallbackPhrase(action: string): string {
  const parts = action.split('.')
  const verb = parts.pop() ?? action
  const known: Record<string, string> = { create: 'created', update: 'changed', delete: 'deleted', revoke: 'revoked', open: 'opened', close: 'closed' }
  const subject = parts.join(' ').replace(/_/g, ' ')
  return known[verb] ? `${known[verb]} the ${nounOf(subject.replace(/ /g, '_'))}` : `did “${action}” on`
}

/** The verb phrase of a row, without its object. */
export function auditPhrase(action: string): string {
  return phrases[action] ?? fallbackPhrase(action)
}

/** The fields of an audit entry a sentence needs (no import: unit tests load this file outside the web build). */
interface AuditRow {
  action: string
  target_type: string
  target_id: string | null
  details: Record<string, unknown> | null
}

function nounOf(targetType: string): string {
  return nouns[targetType] ?? targetType.replace(/_/g, ' ')
}

/** What the row acted on, as people name it; undefined when the action has no object (signing in). */
export function auditObject(entry: AuditRow): string | undefined {
  if (entry.action.startsWith('auth.')) return undefined
  const details = entry.details ?? {}
  // Rollouts have no name: their short id, with the version they send and, once moved by the engine's rules, their state.
  if (entry.target_type === 'rollout' && entry.target_id) {
    const version = typeof details.version === 'string' ? ` of version ${details.version}` : ''
    const strategy = typeof details.strategy === 'string' ? ` (${details.strategy})` : ''
    return `${entry.target_id.slice(0, 8)}${version}${strategy}`
  }
  for (const key of ['name', 'device_id', 'username', 'hostname', 'subdomain', 'container_name']) {
    const value = details[key]
    if (typeof value === 'string' && value) return `“${value}”`
  }
  const noun = nounOf(entry.target_type)
  // "created the registration token 88f4f019", but "closed a terminal on a device (88f4f019)".
  const named = auditPhrase(entry.action).endsWith(`the ${noun}`)
  if (!entry.target_id) return named ? undefined : `a ${noun}`
  return named ? entry.target_id.slice(0, 8) : `a ${noun} (${entry.target_id.slice(0, 8)})`
}

/** The whole sentence after the actor: "created the fleet “Pumps”". */
export function auditSentence(entry: AuditRow): string {
  const object = auditObject(entry)
  return object ? `${auditPhrase(entry.action)} ${object}` : auditPhrase(entry.action)
}

/** "1 entry", "3 entries". */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? singular : plural}`
}
