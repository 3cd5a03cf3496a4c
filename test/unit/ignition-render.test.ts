import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { renderIgnition } from '../../ignition/render-ignition.js'
import { fromDataUrl, toDataUrl } from '../../ignition/data-url.js'
import { PrivateKeyInConfigError } from '../../ignition/private-key-guard.js'
import { ValidationError } from '../../server/errors.js'
import { filesOf, privateKeyMarkers, sampleInput } from '../lib/ignition-config.js'
import { newKeyPair } from '../lib/keys.js'

t.test('a device config carries the agent, its config, its unit, the keys and the hostname', async (t) => {
  const input = sampleInput({ sshAuthorizedKeys: [newKeyPair('admin@laptop').publicKey] })
  const config = renderIgnition(input)
  t.equal(config.ignition.version, '3.3.0', 'Ignition spec 3.3.0')
  const files = filesOf(config)
  t.same([...files.keys()], ['/etc/hostname', '/etc/edgetainer/agent.yaml', '/opt/bin/edgetainer-agent'], 'only what was asked for')

  t.same(files.get('/etc/hostname'), { mode: 420, overwrite: true, text: 'pump-7\n' }, 'hostname, 0644')

  const agentYaml = files.get('/etc/edgetainer/agent.yaml')!
  t.equal(agentYaml.mode, 384, 'agent.yaml is 0600 (it holds the token)')
  const agentConfig = parseYaml(agentYaml.text!)
  t.same(
    agentConfig,
    {
      server_url: 'https://gw.example.com',
      ssh_host: 'gw.example.com',
      ssh_port: 2222,
      host_key: input.gateway.hostKey,
      token: input.token,
      data_dir: '/var/lib/edgetainer-agent',
    },
    'gateway URL, SSH endpoint, the host key to pin and the registration token',
  )

  const binary = files.get('/opt/bin/edgetainer-agent')!
  t.equal(binary.mode, 493, 'agent executable is 0755')
  t.equal(binary.source, input.agentExecutable.url, 'downloaded from the gateway')
  t.equal(binary.hash, `sha512-${input.agentExecutable.sha512}`, 'with its sha512 pinned')

  t.equal(config.systemd.units.length, 1)
  const unit = config.systemd.units[0]!
  t.equal(unit.name, 'edgetainer-agent.service')
  t.equal(unit.enabled, true)
  t.match(unit.contents, /^After=network-online\.target docker\.service$/m)
  t.match(unit.contents, /^Wants=network-online\.target docker\.service$/m)
  t.match(unit.contents, /^ExecStart=\/opt\/bin\/edgetainer-agent .*--config \/etc\/edgetainer\/agent\.yaml$/m)
  t.match(unit.contents, /^Restart=always$/m)
  t.match(unit.contents, /^\[Install\]\nWantedBy=multi-user\.target$/m, 'an [Install] section, so enabling it means something')

  t.same(config.passwd.users.length, 1)
  const core = config.passwd.users[0]!
  t.equal(core.name, 'core')
  const terminalBlob = input.gateway.terminalPublicKey.split(' ').slice(0, 2).join(' ')
  t.same(core.sshAuthorizedKeys, [`${terminalBlob} edgetainer-terminal`, input.sshAuthorizedKeys![0]], 'terminal key first, then the admin keys')
  t.same(privateKeyMarkers(config), [], 'no private key material anywhere, decoded data URLs included')
})

t.test('the same input renders the same config', async (t) => {
  const input = sampleInput()
  t.same(renderIgnition(input), renderIgnition(input))
})

t.test('static network becomes a systemd-networkd file; DHCP writes none', async (t) => {
  const dhcp = filesOf(renderIgnition(sampleInput({ network: { dhcp: true } })))
  t.notOk([...dhcp.keys()].some((p) => p.startsWith('/etc/systemd/network/')), 'DHCP is Flatcar’s default: nothing to write')

  const files = filesOf(renderIgnition(sampleInput({ network: { address: '192.168.10.20/24', gateway: '192.168.10.1', dns: ['192.168.10.1', '9.9.9.9'] } })))
  const network = files.get('/etc/systemd/network/00-edgetainer-static.network')
  t.ok(network, 'a .network file that sorts before Flatcar’s zz-default.network')
  t.equal(network!.mode, 420)
  t.equal(network!.text, '[Match]\nName=en* eth*\n\n[Network]\nAddress=192.168.10.20/24\nGateway=192.168.10.1\nDNS=192.168.10.1\nDNS=9.9.9.9\n')

  const noGateway = filesOf(renderIgnition(sampleInput({ network: { address: 'fd00::20/64', interface: 'eno1' } })))
  t.equal(noGateway.get('/etc/systemd/network/00-edgetainer-static.network')!.text, '[Match]\nName=eno1\n\n[Network]\nAddress=fd00::20/64\n')

  t.throws(() => renderIgnition(sampleInput({ network: { address: '192.168.10.20', gateway: '192.168.10.1', dns: [] } })), ValidationError, 'an address needs its prefix length')
})

t.test('no hostname: /etc/hostname is left alone (a batch token serves many boxes)', async (t) => {
  const files = filesOf(renderIgnition(sampleInput({ hostname: undefined })))
  t.notOk(files.has('/etc/hostname'))
})

t.test('extra files are written as given; they cannot replace the gateway’s own', async (t) => {
  const files = filesOf(renderIgnition(sampleInput({ extraFiles: [{ path: '/etc/motd.d/site.conf', contents: 'Pump house 7\n', mode: 0o640 }] })))
  t.same(files.get('/etc/motd.d/site.conf'), { mode: 416, overwrite: true, text: 'Pump house 7\n' })

  const err = t.throws(() => renderIgnition(sampleInput({ extraFiles: [{ path: '/etc/edgetainer/agent.yaml', contents: 'token: mine\n' }] }))) as ValidationError
  t.ok(err instanceof ValidationError)
  t.equal(err.field, 'extraFiles.0.path', 'names the colliding entry')
  t.throws(() => renderIgnition(sampleInput({ extraFiles: [{ path: 'relative/file', contents: '' }] })), ValidationError)
})

t.test('duplicate admin keys are written once, as Ignition requires', async (t) => {
  const admin = newKeyPair('admin').publicKey
  const input = sampleInput()
  const config = renderIgnition({ ...input, sshAuthorizedKeys: [admin, admin, input.gateway.terminalPublicKey] })
  t.equal(config.passwd.users[0]!.sshAuthorizedKeys.length, 2)
})

t.test('private key material is refused wherever it comes from', async (t) => {
  const pair = newKeyPair('leak')
  t.throws(() => renderIgnition(sampleInput({ extraFiles: [{ path: '/root/.ssh/id_ed25519', contents: pair.privateKey }] })), PrivateKeyInConfigError)
  t.throws(() => renderIgnition(sampleInput({ extraFiles: [{ path: '/etc/ssl/key.pem', contents: '-----BEGIN RSA PRIVATE KEY-----\nMII\n' }] })), PrivateKeyInConfigError)
  t.throws(() => renderIgnition(sampleInput({ sshAuthorizedKeys: [pair.privateKey] })), ValidationError, 'a private key is not a public key line')
  const badHostKey = sampleInput()
  badHostKey.gateway.hostKey = pair.privateKey
  t.throws(() => renderIgnition(badHostKey), ValidationError)
})

t.test('bad input is a 400 naming the field', async (t) => {
  const err = t.throws(() => renderIgnition(sampleInput({ agentExecutable: { url: 'https://gw.example.com/a', sha512: 'not-hex' } }))) as ValidationError
  t.equal(err.code, 'VALIDATION_FAILED')
  t.equal(err.field, 'agentExecutable.sha512')
  t.throws(() => renderIgnition(sampleInput({ hostname: 'pump_7.local' })), ValidationError, 'a hostname is one DNS label')
  t.throws(() => renderIgnition(sampleInput({ token: 'short' })), ValidationError)
})

t.test('data URLs round-trip any bytes', async (t) => {
  for (const text of ['', 'plain', 'line 1\nline 2\n', 'ünïcödé ✓', '%20,;base64']) t.equal(fromDataUrl(toDataUrl(text)).toString('utf8'), text)
  t.equal(fromDataUrl('data:,hello%20world').toString(), 'hello world', 'percent-encoded, as Butane writes short files')
  t.throws(() => fromDataUrl('https://example.com/file'))
})
