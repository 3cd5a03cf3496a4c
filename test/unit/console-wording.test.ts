import t from 'tap'
import { errorSentence, fieldSentence } from '../../web/src/api/error-text.js'
import { auditObject, auditSentence, countOf } from '../../web/src/ui/audit-sentence.js'

t.test('API errors read as sentences, never as raw codes or validator text', async (t) => {
  t.equal(errorSentence('INVALID_CREDENTIALS', 'invalid username or password'), 'The user name or password is wrong.')
  t.equal(errorSentence('VALIDATION_FAILED', 'body.name: Too small: expected string to have >=1 characters', 'body.name'), 'Fill in the name.')
  t.equal(errorSentence('VALIDATION_FAILED', 'body.password: Too small: expected string to have >=10 characters', 'body.password'), 'Password: use at least 10 characters.')
  t.equal(errorSentence('VALIDATION_FAILED', 'query.limit: Invalid input: expected number, received string', 'query.limit'), 'Limit: enter a number.')
  t.equal(errorSentence('FLEET_NOT_FOUND', 'fleet not found'), 'This fleet no longer exists. It may have been deleted.')
  t.equal(errorSentence('FLEET_EXISTS', 'a fleet named north already exists', 'name'), 'Name: a fleet named north already exists.')
  t.equal(errorSentence('SOMETHING_NEW', 'the gateway said no'), 'The gateway said no.', 'unknown codes keep the API sentence, capitalised')
  t.equal(fieldSentence('docker_compose_yaml: services.web.image: is required (line 2)', 'docker_compose_yaml'), 'services.web.image: is required (line 2).', 'a message that starts with a name keeps it as written')
  t.equal(fieldSentence('name: unknown field', 'name'), 'The gateway does not know this field.')
})

t.test('audit rows read as sentences that name their object', async (t) => {
  const row = (action: string, target_type: string, details: Record<string, unknown> | null, target_id: string | null = '88f4f019-0000-4000-8000-000000000000') => ({ action, target_type, target_id, details })
  t.equal(auditSentence(row('fleet.create', 'fleet', { name: 'Pumps' })), 'created the fleet “Pumps”')
  t.equal(auditSentence(row('token.create', 'api_token', { name: 'ci' })), 'created the API token “ci”')
  t.equal(auditSentence(row('provision.token.create', 'registration_token', null)), 'created the registration token 88f4f019')
  t.equal(auditSentence(row('terminal.close', 'device', { device_id: 'pump-7' })), 'closed a terminal on “pump-7”')
  t.equal(auditSentence(row('auth.login', 'user', { username: 'admin' })), 'signed in', 'signing in has no object')
  t.equal(auditSentence(row('widget.frobnicate', 'widget', { name: 'w' })), 'did “widget.frobnicate” on “w”', 'an action the console does not know is still shown')
  t.equal(auditObject(row('fleet.delete', 'fleet', null)), '88f4f019')
  t.equal(auditSentence(row('container.restart', 'device', null)), 'restarted a container on a device (88f4f019)')
  t.equal(countOf(1, 'entry', 'entries'), '1 entry')
  t.equal(countOf(3, 'entry', 'entries'), '3 entries')
})
