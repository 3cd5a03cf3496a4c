import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { AgentConfigError, loadAgentConfig } from '../../agent/config/agent-config.js'

const hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7ubcdOh0hd6bB47Se35bGzoDP2Tw1PKD7gMV4ifMRr'

function file(t: { teardown(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-agent-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const f = path.join(dir, 'agent.yaml')
  writeFileSync(f, text)
  return f
}

t.test('the file Ignition writes loads, with defaults for the rest', async (t) => {
  const config = loadAgentConfig({
    env: {},
    file: file(
      t,
      `server_url: https://gw.example.com\nssh_host: gw.example.com\nssh_port: 2222\nhost_key: ${hostKey}\ntoken: etr_abc\ndata_dir: /var/lib/edgetainer-agent\ncommand_allowlist: [uptime, "docker ps"]\n`,
    ),
  })
  t.match(config, { server_url: 'https://gw.example.com', ssh_port: 2222, host_key: hostKey, token: 'etr_abc', command_allowlist: ['uptime', 'docker ps'] })
  t.equal(config.reconnect_max_seconds, 60, 'backoff cap defaults to 60 s')
  t.equal(config.heartbeat_seconds, 30)
  t.equal(config.docker, undefined, 'docker is auto-detected by default')
  t.ok(Object.isFrozen(config))
})

t.test('EDGETAINER_AGENT_* variables override the file', async (t) => {
  const config = loadAgentConfig({
    file: file(t, 'ssh_port: 2222\ndocker: docker compose\n'),
    env: {
      EDGETAINER_AGENT_SSH_PORT: '2200',
      EDGETAINER_AGENT_DOCKER: 'docker-compose',
      EDGETAINER_AGENT_COMMAND_ALLOWLIST: 'uptime, df -h',
      EDGETAINER_AGENT_RECONNECT_MAX_SECONDS: '5',
      EDGETAINER_AGENT_DATA_DIR: 'relative/dir',
    },
  })
  t.equal(config.ssh_port, 2200)
  t.equal(config.docker, 'docker-compose')
  t.same(config.command_allowlist, ['uptime', 'df -h'])
  t.equal(config.reconnect_max_seconds, 5)
  t.ok(path.isAbsolute(config.data_dir))
  t.same(loadAgentConfig({ env: { EDGETAINER_AGENT_COMMAND_ALLOWLIST: '["echo *", "ls"]' } }).command_allowlist, ['echo *', 'ls'], 'or as a JSON array')
})

t.test('bad values and unknown keys stop the agent with a message naming the key', async (t) => {
  t.throws(() => loadAgentConfig({ env: {}, file: file(t, 'ssh_port: lots\n') }), new AgentConfigError('invalid agent config value for ssh_port: Invalid input: expected number, received NaN'))
  t.throws(() => loadAgentConfig({ env: {}, file: file(t, 'sever_url: https://x\n') }), /unknown agent config key: sever_url/)
  t.throws(() => loadAgentConfig({ env: {}, file: file(t, 'host_key: not-a-key\n') }), /host_key/)
  t.throws(() => loadAgentConfig({ env: {}, file: file(t, 'server_url: ftp://x\n') }), /server_url/)
  t.throws(() => loadAgentConfig({ env: {}, file: file(t, 'docker_host: tcp://10.0.0.1:2375\n') }), /docker_host: must be unix:\/\/\/<path of the docker socket>/)
  t.equal(loadAgentConfig({ env: { EDGETAINER_AGENT_DOCKER_HOST: 'unix:///run/docker.sock' } }).docker_host, 'unix:///run/docker.sock', 'a unix socket is one')
  t.throws(() => loadAgentConfig({ env: {}, file: '/nonexistent/agent.yaml' }), /cannot read \/nonexistent\/agent.yaml: ENOENT/)
})
