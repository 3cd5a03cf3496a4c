import { pipeline } from 'node:stream/promises'
import { z } from 'zod'
import type { Logger } from '../../logger.js'
import { agentExecutableName } from '../../provision/agent-executable.js'
import type { ReleaseStore } from '../../releases/release-store.js'
import { AGENT_ARCHES } from '../../../shared/agent-release.js'
import type { ConfigFetchLimiter } from '../../provision/config-fetch-limiter.js'
import type { IgnitionConfigs } from '../../provision/ignition-configs.js'
import { RegistrationTokenError } from '../../provision/registration-tokens.js'
import { NotFoundError } from '../../errors.js'
import type { RouteRegistry } from '../route-registry.js'

/** `?allow_loopback=1` renders a config that points the device at a loopback address (a lab test on one machine). */
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { message: 'must be 1 or 0 (or true/false, yes/no, on/off)' })
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v))

const configQuery = z.object({
  format: z.enum(['ignition', 'butane']).default('ignition'),
  arch: z.enum(['x64', 'arm64']).default('x64'),
  allow_loopback: flag.default(false),
})

/** The client went away mid-download: nothing to answer and nothing worth an error log. */
function isAbort(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE'
}

/**
 * Provisioning downloads. All three are public on purpose: a device fetches
 * them from Ignition, before it has any identity. The config's credential is
 * its registration token (256 random bits, one-time, short-lived, checked on
 * every fetch, failures rate-limited per address); the agent executable holds
 * nothing secret.
 */
export function registerIgnitionRoutes(
  api: RouteRegistry,
  deps: { configs: IgnitionConfigs; releases: ReleaseStore; limiter: ConfigFetchLimiter; logger: Logger },
) {
  const { configs, releases, limiter, logger } = deps

  api.publicRoute({
    method: 'get',
    path: '/api/provision/config/:token',
    summary:
      'The Ignition config (spec 3.3.0) for a usable registration token (?arch=x64|arm64), or with ?format=butane its Butane YAML; the token is the credential. ' +
      'Refused (409 LOOPBACK_ENDPOINT) while the device-facing URL or SSH host is a loopback address, unless ?allow_loopback=1',
    tag: 'provisioning',
    access: 'public',
    query: configQuery,
    async handler({ req, res, params, query }) {
      const address = req.ip ?? 'unknown'
      await limiter.assertAllowed(address)
      let rendered
      try {
        rendered = await configs.render(params.token ?? '', query.format, { allowLoopback: query.allow_loopback, arch: query.arch })
      } catch (err) {
        if (err instanceof RegistrationTokenError) await limiter.recordFailure(address)
        throw err
      }
      const { token } = rendered
      // Never the token value: its id and visible prefix say which one was used.
      logger.info({ token_id: token.id, token_prefix: token.prefix, format: rendered.format, address }, 'provisioning config rendered')
      const base = token.options.hostname ?? 'device'
      // The token inside is a credential: no cache may keep a copy.
      res.set('Cache-Control', 'no-store')
      if (rendered.format === 'butane') {
        res.set('Content-Disposition', `attachment; filename="${base}.bu"`)
        res.type('application/yaml').send(rendered.config)
      } else {
        res.set('Content-Disposition', `attachment; filename="${base}.ign"`)
        res.type('application/vnd.coreos.ignition+json').send(JSON.stringify(rendered.config, null, 2) + '\n')
      }
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/provision/endpoints',
    summary:
      'Where a config rendered now sends devices: the server URL, the SSH endpoint, whether either is a loopback address (and what to change), and the agent it pins',
    tag: 'provisioning',
    access: 'viewer',
    async handler() {
      return configs.describe()
    },
  })

  /** Streams one stored release; `ETag` is its sha512, which never changes for the URL. */
  async function sendRelease(res: import('express').Response, sha512: string, filename: string): Promise<void> {
    const { handle, release } = await releases.openRelease(sha512)
    try {
      res.set({
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(release.size),
        'Content-Disposition': `attachment; filename="${filename}"`,
        ETag: `"sha512-${release.sha512.slice(0, 32)}"`,
      })
      await pipeline(handle.createReadStream({ start: 0, end: release.size - 1, autoClose: false }), res)
    } catch (err) {
      if (!isAbort(err)) throw err
    } finally {
      await handle.close()
    }
  }

  for (const arch of AGENT_ARCHES) {
    const name = agentExecutableName(arch)
    api.publicRoute({
      method: 'get',
      path: `/api/provision/agent/linux-${arch}`,
      summary: `The newest agent build as one self-contained linux-${arch} executable; 503 until \`make agent\` has built it (Ignition configs name /api/provision/agent/<sha512> instead)`,
      tag: 'provisioning',
      access: 'public',
      async handler({ res }) {
        const { sha512 } = await releases.current(arch)
        // The newest build changes with every `make agent`: no cache may keep it.
        res.set('Cache-Control', 'no-cache')
        await sendRelease(res, sha512, name)
        return undefined
      },
    })

    api.publicRoute({
      method: 'get',
      path: `/api/provision/agent/linux-${arch}.sha512`,
      summary: `The newest linux-${arch} agent build's sha512, in \`sha512sum\` format; 503 until \`make agent\` has built it`,
      tag: 'provisioning',
      access: 'public',
      async handler({ res }) {
        const { sha512 } = await releases.current(arch)
        res.set('Cache-Control', 'no-cache')
        res.type('text/plain').send(`${sha512}  ${name}\n`)
        return undefined
      },
    })
  }

  api.publicRoute({
    method: 'get',
    path: '/api/provision/agent/:sha512',
    summary: 'An agent executable the gateway has served, by its sha512: what Ignition configs download. Kept for ever, so every config issued still boots',
    tag: 'provisioning',
    access: 'public',
    async handler({ res, params }) {
      const sha512 = params.sha512 ?? ''
      if (!/^[0-9a-f]{128}$/.test(sha512)) throw new NotFoundError('AGENT_RELEASE_NOT_FOUND', 'agent release')
      // Content-addressed: the bytes behind this URL never change.
      res.set('Cache-Control', 'public, max-age=31536000, immutable')
      await sendRelease(res, sha512, 'edgetainer-agent')
      return undefined
    },
  })
}
