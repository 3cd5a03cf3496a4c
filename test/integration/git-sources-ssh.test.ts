import t from 'tap'
import { requestViaHost } from '../lib/device-app.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { createRepoRoot, createTestRepo } from '../lib/git-repo.js'
import { startGitSshServer } from '../lib/git-ssh-server.js'
import { freePort } from '../lib/ports.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * Software from git over SSH: a stock sshd whose keys may run git-shell only,
 * the gateway's generated deploy key, host-key pinning on first use, and a
 * version imported from git deployed to a real agent on the real dockerd.
 */
const stack = (port: number, marker: string) => `services:
  web:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "mkdir -p /www && echo ${marker} $$GREETING > /www/version.txt && exec httpd -f -p ${port} -h /www"]
`

t.test('an ssh remote is fetched with the generated deploy key, and its versions deploy to a real agent', async (t) => {
  ensureTestImage()
  const root = createRepoRoot(t)
  const repo = createTestRepo(root, 'edge')
  const sshd = await startGitSshServer(t)
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_GIT_MIN_POLL_SECONDS: '1', EDGETAINER_GIT_POLL_CHECK_SECONDS: '0.1', EDGETAINER_GIT_FETCH_TIMEOUT_SECONDS: '20' },
    start: { agentHeartbeatSeconds: 1 },
  })
  const { http, adminToken: token } = gw
  const port = await freePort()
  const first = repo.push({ 'compose.yaml': stack(port, 'v1'), '.edgetainer/defaults.env': 'GREETING=from-git\n' }, 'First release')

  const created = await http.post('/api/software', { name: 'edge', source: 'git', repo_url: sshd.urlFor(repo.bare), git_ref: 'main', poll_interval_seconds: 0 }, { token })
  t.equal(created.status, 201, `created: ${JSON.stringify(created.body).slice(0, 200)}`)
  const sw = created.body
  t.match(sw.git, { auth: 'deploy_key', deploy_key_public: /^ssh-ed25519 AAAA\S+ edgetainer-deploy-/, ssh_known_hosts: null })
  t.notMatch(JSON.stringify(sw), /PRIVATE KEY/, 'the private half is never returned')

  const refused = await http.post(`/api/software/${sw.id}/sync`, undefined, { token })
  t.equal(refused.status, 502, 'before the key is added to the host, the fetch is refused')
  t.match(refused.body, { code: 'GIT_FETCH_FAILED', error: /Permission denied|Could not read from remote/ })

  sshd.allowKey(sw.git.deploy_key_public)
  const synced = await http.post(`/api/software/${sw.id}/sync`, undefined, { token })
  t.equal(synced.status, 200, JSON.stringify(synced.body))
  t.match(synced.body, { status: 'imported', version: '1', commit: { sha: first } })
  const pinned = (await http.get(`/api/software/${sw.id}`, { token })).body.git.ssh_known_hosts as string
  t.match(pinned, sshd.hostPublicKey.split(' ')[1]!, "the host's key is pinned at the first fetch")

  await t.test('a pinned host key that no longer matches refuses the fetch', async (t) => {
    const other = await startGitSshServer(t)
    other.allowKey(sw.git.deploy_key_public)
    // Same software, same pinned key, another server at the same address but another port: pinning is per host and port.
    const moved = await http.put(`/api/software/${sw.id}`, { repo_url: other.urlFor(repo.bare), ssh_known_hosts: pinned.replace(`:${sshd.port}]`, `:${other.port}]`) }, { token })
    t.equal(moved.status, 200, `moved: ${JSON.stringify(moved.body).slice(0, 200)}`)
    const res = await http.post(`/api/software/${sw.id}/sync`, undefined, { token })
    t.equal(res.status, 502)
    t.match(res.body.error, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/)
    t.equal((await http.put(`/api/software/${sw.id}`, { repo_url: sshd.urlFor(repo.bare), ssh_known_hosts: pinned }, { token })).status, 200)
  })

  await t.test('the imported version runs on a real agent, and a push through polling updates it', async (t) => {
    const fleet = (await http.post('/api/fleets', { name: 'git-fleet' }, { token })).body
    const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
    const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id) })
    const deviceId = agent.registration.device_id
    const device = (await http.get(`/api/devices/${deviceId}`, { token })).body
    await waitOnline(http, token, deviceId)
    t.equal((await http.post(`/api/devices/${deviceId}/exposed-services`, { name: 'web', container_name: 'web', internal_port: port, auth_required: false }, { token })).status, 201)
    t.equal((await http.post(`/api/software/${sw.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
    const served = (marker: string) =>
      waitFor(`${marker} served`, async () => {
        const r = await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')
        return r.status === 200 && r.body === `${marker} from-git\n` ? r : undefined
      }, 60_000)
    await served('v1')
    t.pass('version 1 from git runs, with the defaults file as its environment')

    const second = repo.push({ 'compose.yaml': stack(port, 'v2') }, 'Second release')
    t.equal((await http.put(`/api/software/${sw.id}`, { poll_interval_seconds: 1 }, { token })).status, 200)
    await served('v2')
    const versions = (await http.get(`/api/software/${sw.id}/versions`, { token })).body.items
    t.match(versions[0], { version: '2', commit_sha: second, commit_message: 'Second release', current: true })
    t.equal(versions[0].commit_url, null, 'an ssh remote on an unknown host shows the SHA without a link')
    t.equal((await http.put(`/api/software/${sw.id}`, { poll_interval_seconds: 0 }, { token })).status, 200)
    const deployments = (await http.get(`/api/deployments?device_id=${deviceId}`, { token })).body.items
    t.equal((await http.delete(`/api/deployments/${deployments[0].id}`, { token })).status, 204)
  })
})
