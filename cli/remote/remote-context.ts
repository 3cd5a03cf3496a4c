import { createApiClient, parseGatewayUrl, type ApiClient } from './api-client.js'
import { createCliConfig, type CliConfig } from './cli-config.js'
import { CliError, EXIT } from './cli-error.js'
import { processIo, type Io } from './output.js'

/** Seconds; scripts on slow links raise it with EDGETAINER_TIMEOUT. */
const DEFAULT_TIMEOUT_SECONDS = 30

export interface RemoteContext {
  env: NodeJS.ProcessEnv
  io: Io
  config: CliConfig
  timeoutMs: number
  /** A client for the logged-in gateway (or EDGETAINER_URL and EDGETAINER_TOKEN); fails with exit 2 when there is none. */
  client(): ApiClient
  /** A client for a gateway by URL, without credentials (login). */
  anonymous(url: string, token?: string): ApiClient
}

/** Built once per run from the process environment: the only place the remote commands read it. */
export function createRemoteContext(env: NodeJS.ProcessEnv = process.env, io: Io = processIo): RemoteContext {
  const config = createCliConfig({ env, warn: (line) => io.err(line + '\n') })
  const seconds = env.EDGETAINER_TIMEOUT === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(env.EDGETAINER_TIMEOUT)
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new CliError(EXIT.usage, 'EDGETAINER_TIMEOUT must be a number of seconds between 0 and 3600')
  const timeoutMs = Math.round(seconds * 1000)

  return {
    env,
    io,
    config,
    timeoutMs,
    client() {
      // Environment credentials win, for CI jobs that never run `login`.
      if (env.EDGETAINER_TOKEN) {
        if (!env.EDGETAINER_URL) throw new CliError(EXIT.usage, 'EDGETAINER_TOKEN is set but EDGETAINER_URL is not')
        return createApiClient({ baseUrl: parseGatewayUrl(env.EDGETAINER_URL), token: env.EDGETAINER_TOKEN, timeoutMs })
      }
      const saved = config.read()
      if (!saved) throw new CliError(EXIT.auth, 'not logged in; run `edgetainer login <url>` first')
      return createApiClient({ baseUrl: saved.url, token: saved.token, timeoutMs })
    },
    anonymous(url, token) {
      return createApiClient({ baseUrl: parseGatewayUrl(url), token, timeoutMs })
    },
  }
}
