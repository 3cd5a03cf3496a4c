import t from 'tap'
import { z } from 'zod'
import { agentApi, type AgentConfigResponse, type AgentRestartsResponse, type AgentSoftwareResponse, type AgentUpdateResponse, type HeartbeatResponse, type StatusAck } from '../../shared/agent-wire.js'
import { connectAgentApiDevice } from '../lib/agent-api-device.js'
import { registrationToken } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

/**
 * What the gateway answers on each agent route, checked at run time against
 * strict schemas of the shared wire types. The types say what the agent is
 * compiled against; these tests say the gateway really sends that, with no
 * field missing, renamed or extra. Each schema is tied to its type below, so a
 * change to shared/agent-wire.ts that is not made here fails the type check.
 */
const heartbeatResponse = z.strictObject({ interval_seconds: z.number().int().positive(), revision: z.string().min(1), restarts_pending: z.number().int().min(0) })
const configResponse = z.strictObject({
  id: z.uuid(),
  device_id: z.string().min(1),
  name: z.string(),
  subdomain: z.string().min(1),
  heartbeat_seconds: z.number().int().positive(),
  services: z.array(z.strictObject({ name: z.string(), container_name: z.string(), internal_port: z.number().int(), protocol: z.enum(['http', 'tcp']) })),
  control_key: z.string().min(20),
})
const softwareResponse = z.strictObject({
  revision: z.string().min(1),
  software: z.array(
    z.strictObject({
      software_id: z.uuid(),
      name: z.string(),
      version: z.string(),
      compose: z.string(),
      env: z.record(z.string(), z.record(z.string(), z.string())),
    }),
  ),
})
const statusAck = z.strictObject({
  acked_seq: z.number().int(),
  rejected: z.array(z.strictObject({ seq: z.number().int().nullable(), code: z.string(), error: z.string() })).optional(),
})
const restartsResponse = z.strictObject({ restarts: z.array(z.strictObject({ id: z.string(), container: z.string() })) })
const updateResponse = z.strictObject({ gateway_version: z.string().min(1), update: z.strictObject({ manifest: z.string(), signature: z.string() }).nullable() })
const errorAnswer = z.strictObject({ error: z.string().min(1), code: z.string().min(1), field: z.string().optional() })

// Compile-time ties: each schema's type and the shared wire type must be the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const tied: [
  Same<z.infer<typeof heartbeatResponse>, HeartbeatResponse>,
  Same<z.infer<typeof configResponse>, AgentConfigResponse>,
  Same<z.infer<typeof softwareResponse>, AgentSoftwareResponse>,
  Same<z.infer<typeof statusAck>, StatusAck>,
  Same<z.infer<typeof restartsResponse>, AgentRestartsResponse>,
  Same<z.infer<typeof updateResponse>, AgentUpdateResponse>,
] = [true, true, true, true, true, true]

t.test('every agent route answers exactly its shared wire shape', async (t) => {
  t.same(tied, [true, true, true, true, true, true])
  const gw = await startTestGateway(t, 'postgres')
  const { http, adminToken: token } = gw
  const as = { token }
  const fleet = (await http.post('/api/fleets', { name: 'shapes' }, as)).body
  const dev = await connectAgentApiDevice(t, {
    http,
    token: await registrationToken({ http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }, fleet.id),
    sshPort: gw.server.sshPort,
    hostPublicKey: gw.server.hostPublicKey,
  })
  const deviceId: string = dev.registration.id
  // Something in every list: a deployed release with a secret, an exposed service, a queued restart.
  const software = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: busybox:1\n' }, as)).body
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, as)).status, 201, 'deployed to the fleet')
  t.equal((await http.put(`/api/fleets/${fleet.id}/env-vars/web`, { vars: { TOKEN: { value: 'sealed', secret: true } } }, as)).status, 200, 'a secret variable')
  t.equal((await http.post(`/api/devices/${deviceId}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80 }, as)).status, 201, 'an exposed service')
  t.equal((await http.post(`/api/devices/${deviceId}/env-vars/web/restart`, {}, as)).status < 300, true, 'a restart queued')

  const routes = [
    { name: 'heartbeat', schema: heartbeatResponse, body: { agent_version: 'shapes', at: new Date().toISOString(), metrics: { cpu_percent: 1, memory_used_bytes: 1, memory_total_bytes: 2, disk_used_bytes: 1, disk_total_bytes: 2, uptime_seconds: 1, load_1: 0, net_rx_bytes: 0, net_tx_bytes: 0 }, containers: [], software: [], outbox: { pending: 0, dropped_log_lines: 0 } } },
    { name: 'config', schema: configResponse },
    { name: 'software', schema: softwareResponse },
    { name: 'status', schema: statusAck, body: { outbox_id: 'shapes-outbox', dropped_log_lines: 0, events: [{ seq: 1, at: new Date().toISOString(), kind: 'agent', message: 'hello' }, { seq: 2, at: new Date().toISOString(), kind: 'log', container: 'web', stream: 'stdout', line: 'a NUL \u0000 no database stores' }] } },
    { name: 'restarts', schema: restartsResponse },
    { name: 'agentUpdate', schema: updateResponse },
  ] as const
  // The executable route answers bytes, not JSON: checked below by its refusal, which is JSON.
  t.same([...routes.map((r) => r.name), 'agentExecutable'].sort(), Object.keys(agentApi).sort(), 'every route of the agent API is checked here')

  const answers: Record<string, unknown> = {}
  for (const route of routes) {
    const { method, path } = agentApi[route.name]
    const reply = await dev.json(method, path, 'body' in route ? route.body : undefined)
    t.equal(reply.status, 200, `${method} ${path} answers 200`)
    const parsed = route.schema.safeParse(reply.body)
    t.ok(parsed.success, `${route.name}: ${parsed.success ? 'matches its wire type' : z.prettifyError(parsed.error)}`)
    answers[route.name] = reply.body
  }
  const unknown = await dev.json(agentApi.agentExecutable.method, `${agentApi.agentExecutable.path}?sha512=${'0'.repeat(128)}`)
  t.equal(unknown.status, 404, 'an executable the gateway never served is a 404')
  t.ok(errorAnswer.safeParse(unknown.body).success, `with the error shape every route refuses with: ${JSON.stringify(unknown.body)}`)
  t.equal((answers.agentUpdate as z.infer<typeof updateResponse>).update, null, 'no agent update without a target version')
  const software0 = (answers.software as z.infer<typeof softwareResponse>).software
  t.equal(software0.length, 1, 'the deployed release is in the software document')
  t.equal(software0[0]?.env.web?.TOKEN, 'sealed', 'with its secret opened for the device')
  t.equal((answers.config as z.infer<typeof configResponse>).services.length, 1, 'the exposed service is in the config')
  t.equal((answers.status as z.infer<typeof statusAck>).rejected?.length, 1, 'the bad event is refused by itself')
  t.equal((answers.restarts as z.infer<typeof restartsResponse>).restarts.length, 1, 'the queued restart is handed out')
})
