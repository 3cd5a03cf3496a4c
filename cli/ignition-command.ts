import { chmodSync, writeFileSync } from 'node:fs'
import type { Command, Option } from 'commander'
import { loadConfig } from '../server/config/load-config.js'
import { openDatabase } from '../server/db/open-database.js'
import { migrateToLatest } from '../server/db/migrate.js'
import { ValidationError } from '../server/errors.js'
import { loadOrCreateHostKey } from '../server/tunnel/host-key.js'
import path from 'node:path'
import { createAgentExecutable, defaultAgentDir } from '../server/provision/agent-executable.js'
import { loadOrCreateReleaseKey } from '../server/releases/release-key.js'
import { createReleaseStore } from '../server/releases/release-store.js'
import { createRegistrationTokens } from '../server/provision/registration-tokens.js'
import { createIgnitionConfigs, type IgnitionFormat } from '../server/provision/ignition-configs.js'
import { gatewayEndpoints, loopbackProblem } from '../server/provision/gateway-endpoints.js'

interface IgnitionOptions {
  config?: string
  token: string
  out?: string
  format: string
  agentDir?: string
  allowLoopback?: boolean
}

/**
 * Renders a device's config without a running gateway: the same renderer and
 * the same token checks as `GET /api/provision/config/:token`, reading the
 * database, the host keys in the data dir and the built agent directly.
 */
export async function runIgnitionCommand(opts: IgnitionOptions): Promise<void> {
  if (opts.format !== 'ignition' && opts.format !== 'butane') throw new ValidationError('format', 'must be ignition or butane')
  const config = loadConfig({ file: opts.config })
  const endpoints = gatewayEndpoints(config)
  if (config.sshPort === 0 || new URL(endpoints.url).port === '0') {
    throw new ValidationError('public_url', 'the gateway is configured with port 0; set public_url and ssh_port to what devices dial')
  }
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    await migrateToLatest(database.db)
    // The same key files the server uses, so the config pins the gateway that will answer.
    // The build goes into the gateway's release store, as when the server renders: the config's URL names it by sha512.
    const agentDir = opts.agentDir ?? defaultAgentDir()
    const releaseKey = loadOrCreateReleaseKey({ dataDir: config.dataDir, configuredFile: config.releaseKeyFile })
    const releases = createReleaseStore({
      db: database.db,
      dir: path.join(config.dataDir, 'agent-releases'),
      builds: { x64: createAgentExecutable({ dir: agentDir }), arm64: createAgentExecutable({ dir: agentDir, arch: 'arm64' }) },
      key: releaseKey,
    })
    const configs = createIgnitionConfigs({
      tokens: createRegistrationTokens({ db: database.db }),
      agent: releases,
      releaseKey: releaseKey.publicKey,
      endpoints: () => endpoints,
      hostPublicKey: loadOrCreateHostKey(config.dataDir).publicKey,
      terminalPublicKey: loadOrCreateHostKey(config.dataDir, 'terminal_ed25519_key').publicKey,
      userCaPublicKey: loadOrCreateHostKey(config.dataDir, 'ssh_user_ca_ed25519_key').publicKey,
      user: config.terminalUser,
    })
    // A loopback server URL or SSH host is refused by the renderer unless --allow-loopback says this is a lab test.
    const rendered = await configs.render(opts.token, opts.format as IgnitionFormat, { allowLoopback: opts.allowLoopback === true })
    const text = rendered.format === 'butane' ? rendered.config : JSON.stringify(rendered.config, null, 2) + '\n'
    const problem = loopbackProblem(endpoints)
    if (problem) process.stderr.write(`edgetainer: warning: rendered with --allow-loopback: ${problem.split('. ')[0]}\n`)
    if (opts.out) {
      // 0600: the file holds the registration token.
      writeFileSync(opts.out, text, { mode: 0o600 })
      chmodSync(opts.out, 0o600)
      const { token } = rendered
      process.stderr.write(`wrote ${opts.out} for token ${token.prefix}… (fleet ${token.fleet_id}, ${token.max_uses - token.uses} use(s) left, expires ${token.expires_at.toISOString()})\n`)
    } else {
      process.stdout.write(text)
    }
  } finally {
    await database.close()
  }
}

export function registerIgnitionCommand(program: Command, configOption: Option) {
  program
    .command('ignition')
    .description("render a device's Flatcar Ignition config (or Butane YAML) for a registration token, offline")
    .addOption(configOption)
    .requiredOption('--token <value>', 'registration token value (etr_…), as shown when it was created')
    .option('-o, --out <file>', 'write to this file (mode 0600) instead of standard output')
    .option('--format <format>', 'ignition (JSON, spec 3.3.0) or butane (YAML)', 'ignition')
    .option('--agent-dir <dir>', 'where `make agent` put the executable (default dist/agent)')
    .option('--allow-loopback', 'render even when public_url or the SSH host is a loopback address (a lab test with the device on this machine)')
    .action(runIgnitionCommand)
}
