import https from 'node:https'
import type { Client } from 'acme-client'
import { acmeClientModule } from './acme-client-module.js'
import type { Logger } from '../logger.js'
import type { CertificateStore } from './certificate-store.js'

export interface AcmeBackoff {
  /** acme-client's polling of pending orders and challenges (milliseconds). */
  minMs?: number
  maxMs?: number
  attempts?: number
}

/**
 * The gateway's ACME account for one directory, created on first use and
 * stored (key sealed) so every restart and every gateway on the database
 * reuses it. Requests to the directory trust exactly the configured CA when
 * one is given (e.g. Pebble's), never whatever the environment adds.
 */
export function createAcmeAccount(deps: {
  store: CertificateStore
  directoryUrl: string
  email: string | undefined
  caPem: string | undefined
  backoff?: AcmeBackoff
  logger: Logger
}) {
  const { store, directoryUrl, logger } = deps
  const origin = new URL(directoryUrl).origin
  const agent = deps.caPem ? new https.Agent({ ca: deps.caPem, keepAlive: true }) : undefined
  let closed = false
  let ejectInterceptor: (() => void) | undefined
  /** acme-client, with our CA (if one is configured) installed the first time it is loaded. */
  async function acme() {
    const loaded = await acmeClientModule()
    if (agent && !ejectInterceptor && !closed) {
      // acme-client sends everything through one shared axios instance; scope our CA to our CA's origin.
      const id = loaded.axios.interceptors.request.use((config) => {
        if (config.url && config.url.startsWith(`${origin}/`)) config.httpsAgent = agent
        return config
      })
      ejectInterceptor = () => loaded.axios.interceptors.request.eject(id)
    }
    return loaded
  }

  let client: Promise<Client> | undefined
  let directory: Promise<Record<string, unknown>> | undefined

  async function newClient(accountKey: string, accountUrl?: string): Promise<Client> {
    const { Client } = await acme()
    return new Client({
      directoryUrl,
      accountKey,
      accountUrl,
      backoffAttempts: deps.backoff?.attempts ?? 10,
      backoffMin: deps.backoff?.minMs ?? 5000,
      backoffMax: deps.backoff?.maxMs ?? 30_000,
    })
  }

  async function load(): Promise<Client> {
    const contact = deps.email ? [`mailto:${deps.email}`] : []
    const stored = await store.getAccount(directoryUrl)
    if (stored) {
      const existing = await newClient(stored.keyPem, stored.accountUrl)
      if ((stored.email ?? undefined) !== deps.email) {
        await existing.updateAccount({ contact })
        await store.setAccountEmail(directoryUrl, deps.email ?? null)
        logger.info({ directory: directoryUrl }, 'ACME account contact updated')
      }
      return existing
    }
    const keyPem = (await (await acme()).crypto.createPrivateEcdsaKey()).toString()
    const fresh = await newClient(keyPem)
    // Configuring a directory is the operator's agreement to that CA's terms (README says so).
    await fresh.createAccount({ termsOfServiceAgreed: true, contact })
    const saved = await store.saveAccount(directoryUrl, { accountUrl: fresh.getAccountUrl(), keyPem, email: deps.email ?? null })
    logger.info({ directory: directoryUrl }, 'ACME account registered')
    // Another gateway may have stored its account first: use that one everywhere.
    return saved.accountUrl === fresh.getAccountUrl() ? fresh : newClient(saved.keyPem, saved.accountUrl)
  }

  return {
    directoryUrl,
    client(): Promise<Client> {
      client ??= load().catch((err) => {
        client = undefined
        throw err
      })
      return client
    },
    /** The directory object (cached): ARI support shows as its `renewalInfo` URL. */
    directory(): Promise<Record<string, unknown>> {
      directory ??= acme()
        .then(({ axios }) => axios.get(directoryUrl))
        .then(
          (res) => {
            if (res.status !== 200 || typeof res.data !== 'object') throw new Error(`ACME directory answered ${res.status}`)
            return res.data as Record<string, unknown>
          },
          (err) => {
            directory = undefined
            throw err
          },
        )
      return directory
    },
    /** A plain GET through acme-client's HTTP stack (same CA, same retries on 429/5xx). */
    get: async (url: string) => (await acme()).axios.get(url),
    close() {
      closed = true
      ejectInterceptor?.()
      ejectInterceptor = undefined
    },
  }
}

export type AcmeAccount = ReturnType<typeof createAcmeAccount>
