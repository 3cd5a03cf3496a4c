import t from 'tap'
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { projectName } from '../../agent/deploy/stack-store.js'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { requestViaHost } from '../lib/device-app.js'
import { createDeviceRoot } from '../lib/device-root.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { applyIgnition, execStartOf } from '../lib/ignition-apply.js'
import { freePort, waitFor } from '../lib/openssh.js'
import { removeAgentContainers, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

/** The fleet's software: busybox httpd on the host network, serving a marker the test looks for through the gateway. */
function compose(port: number): string {
  return `services:
  web:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "mkdir -p /www && echo hello from the first boot > /www/index.html && exec httpd -f -p ${port} -h /www"]
`
}

t.test("a device's first boot: only the Ignition config, the downloaded executable, no Node.js, an empty environment", async (t) => {
  ensureTestImage()
  const built = await ensureAgentBuilt()
  // The gateway's agent dir is a copy of dist/agent, so the test can "rebuild" into it.
  const agentDir = mkdtempSync(path.join(tmpdir(), 'et-first-boot-agent-'))
  t.teardown(() => rmSync(agentDir, { recursive: true, force: true }))
  const name = path.basename(built.file)
  for (const suffix of ['', '.sha512', '.json']) copyFileSync(`${built.file}${suffix}`, path.join(agentDir, `${name}${suffix}`))
  // Port 0 in the public URL: the config names the port this gateway actually bound.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_PUBLIC_URL: 'http://127.0.0.1:0' }, start: { agentDir, agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw

  // The admin's side: a fleet with software deployed to it, and a one-time token.
  const fleet = (await http.post('/api/fleets', { name: 'pump-houses' }, { token })).body
  const port = await freePort()
  const software = (await http.post('/api/software', { name: 'pump-ui', docker_compose_yaml: compose(port) }, { token })).body
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
  const created = await http.post('/api/provision/tokens', { fleet_id: fleet.id, hostname: 'pump-7', name_pattern: 'pump-{n}' }, { token })
  t.equal(created.status, 201)

  // The device's side. The config, fetched as Ignition does, with no credential but the token.
  const fetched = await fetch(`${http.baseUrl}/api/provision/config/${created.body.token}?allow_loopback=1`)
  t.equal(fetched.status, 200)
  const config = (await fetched.json()) as IgnitionConfig

  await t.test('a rebuild of the agent after the config was issued does not make it stale', async (t) => {
    // `make agent` from changed sources: another executable, another sha512, in the gateway's agent dir.
    const file = path.join(agentDir, name)
    appendFileSync(file, Buffer.from('\0another build\n'))
    const sha512 = createHash('sha512').update(readFileSync(file)).digest('hex')
    writeFileSync(`${file}.sha512`, `${sha512}\n`)
    writeFileSync(`${file}.json`, JSON.stringify({ ...JSON.parse(readFileSync(`${file}.json`, 'utf8')), sha512, size: statSync(file).size }))
    const published = await (await fetch(`${http.baseUrl}/api/provision/agent/linux-x64.sha512`)).text()
    t.equal(published.split(' ')[0], sha512, 'the gateway now offers the new build')
    const binary = config.storage!.files!.find((f) => f.path === '/opt/bin/edgetainer-agent')!
    t.equal(binary.contents.verification?.hash, `sha512-${built.sha512}`, 'the issued config still pins the build it was rendered with')
    t.equal(binary.contents.source, `${http.baseUrl}/api/provision/agent/${built.sha512}`, 'by a content-addressed URL')
  })

  const device = createDeviceRoot(t)
  const project = projectName('pump-ui', software.id)
  // The agent leaves its stack running when stopped, as on a real device: remove it after the device is gone.
  t.teardown(() => removeAgentContainers(path.join(device.root, 'var/lib/edgetainer-agent'), [project]))

  await t.test('Ignition writes what the config says, and nothing else', async (t) => {
    const applied = await applyIgnition(config, device.root)
    t.same(applied.enabled, [{ unit: 'edgetainer-agent.service', wantedBy: 'multi-user.target' }])
    const binary = path.join(device.root, 'opt/bin/edgetainer-agent')
    t.equal(statSync(binary).mode & 0o777, 0o755, 'the downloaded agent is executable (its sha512 was checked on download)')
    t.equal(statSync(path.join(device.root, 'etc/edgetainer/agent.yaml')).mode & 0o777, 0o600)
    t.equal(readFileSync(path.join(device.root, 'etc/hostname'), 'utf8'), 'pump-7\n')
    t.equal(readlinkSync(path.join(device.root, 'etc/systemd/system/multi-user.target.wants/edgetainer-agent.service')), '/etc/systemd/system/edgetainer-agent.service')
    t.notOk(existsSync(path.join(device.root, 'var/lib/edgetainer-agent')), 'no device identity yet: the agent makes it')
  })

  await t.test('the device root is Flatcar-like: no node, and services get an empty environment', async (t) => {
    const probe = device.start(['/bin/sh', '-c', 'if command -v node || command -v nodejs || [ -e /usr/bin/node ]; then echo node is here; exit 1; fi; exec /usr/bin/env'])
    t.equal(await probe.exited, 0, probe.output())
    t.equal(probe.output().replace(/^PWD=\/\n/m, ''), '', 'env prints nothing (sh adds only PWD)')
  })

  // "Boot": multi-user.target starts what it wants, as systemd would, with the unit's own command line.
  const wants = path.join(device.root, 'etc/systemd/system/multi-user.target.wants')
  // The link is absolute on the device: resolve it inside the device root.
  const unit = readFileSync(path.join(device.root, readlinkSync(path.join(wants, 'edgetainer-agent.service'))), 'utf8')
  const argv = execStartOf(unit)
  t.same(argv.slice(0, 1), ['/opt/bin/edgetainer-agent'])
  const running = device.start(argv)
  const alive = () => {
    if (running.child.exitCode !== null) throw new Error(`the agent exited (${running.child.exitCode}):\n${running.output()}`)
  }
  let registered: { id: string; device_id: string; subdomain: string } | undefined

  await t.test('the device registers with the token and comes online', async (t) => {
    const row = await waitFor(
      'the device in its fleet',
      async () => {
        alive()
        const res = await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })
        return res.body.items?.[0]
      },
      60_000,
    )
    t.equal(row.name, 'pump-1', "named by the token's pattern")
    const status = await waitOnline(http, token, row.device_id, 60_000)
    t.equal(status.online, true)
    const stored = (await http.get(`/api/devices/${row.id}`, { token })).body
    const madeOnDevice = readFileSync(path.join(device.root, 'var/lib/edgetainer-agent/identity/id_ed25519.pub'), 'utf8').trim()
    t.equal(stored.public_key, madeOnDevice, 'the registered key is the one the agent made on the device, in the data dir agent.yaml names')
    t.notOk(JSON.stringify(config).includes(madeOnDevice.split(' ')[1]!), 'it was never in the config')
    const spent = (await http.get(`/api/provision/tokens/${created.body.id}`, { token })).body
    t.match(spent, { uses: 1, state: 'used_up' }, 'the one-time token is spent')
    t.equal((await fetch(`${http.baseUrl}/api/provision/config/${created.body.token}`)).status, 410, 'and the config cannot be fetched again')
    registered = row
  })

  await t.test("it runs its fleet's compose stack on dockerd, and the service answers on its subdomain", async (t) => {
    const row = registered!
    t.equal((await http.post(`/api/devices/${row.device_id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: port, auth_required: false }, { token })).status, 201)
    await waitFor(
      'the deployment running',
      async () => {
        alive()
        const res = await http.get(`/api/deployments?device_id=${row.device_id}`, { token })
        const mine = res.body.items?.[0]?.devices?.find((d: { device_id: string }) => d.device_id === row.device_id)
        return mine?.status === 'running' ? mine : undefined
      },
      90_000,
    )
    const page = await waitFor(
      `${row.subdomain}.localhost through the tunnel`,
      async () => {
        alive()
        const res = await requestViaHost(gw.server.httpPort, `${row.subdomain}.localhost`, '/')
        return res.status === 200 ? res : undefined
      },
      30_000,
    )
    t.equal(page.body, 'hello from the first boot\n', "the device's default service, on its subdomain")
    const named = await requestViaHost(gw.server.httpPort, `web.${row.subdomain}.localhost`, '/')
    t.equal(named.body, 'hello from the first boot\n', 'and as the named service')
    alive()
  })
})
