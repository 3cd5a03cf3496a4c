/*
 * What a caller of startServer may set beyond the config: tests shorten timers and limits with these;
 * `edgetainer server` passes none of them (or only the production scrypt cost).
 */
import type { LoginLimitOptions } from './auth/login-limiter.js'
import type { PasswordHasherOptions } from './auth/passwords.js'
import type { TunnelServerOptions } from './tunnel/tunnel-server.js'
import type { AcmeTuning } from './tls/acme-certificates.js'
import type { RegistrationLimitOptions } from './provision/registration-limiter.js'
import type { ConfigFetchLimitOptions } from './provision/config-fetch-limiter.js'
import type { AgentRateLimitOptions } from './agent-api/agent-api-rate-limit.js'
import type { Socket } from 'node:net'
import type { HandoffMessage } from './cluster/connection-handoff.js'

/** A worker of `edgetainer server --workers N`: how it reaches its siblings through the primary (connection-handoff.ts). */
export interface WorkerHandoff {
  /** The node ids of the workers running now. */
  siblings(): ReadonlySet<string>
  send(message: HandoffMessage, socket: Socket): void
  onReceive(handler: (message: HandoffMessage, socket: Socket | undefined) => void): void
}

export interface StartOptions {
  /** Tests pass a PGlite directory of their own, e.g. `memory://`. */
  pgliteDir?: string
  /** A PGlite dump to start a `memory://` database from (tests seed an already migrated one instead of running initdb each time). */
  pgliteSeed?: Blob
  /** Login limiter settings; tests shorten them. */
  loginLimit?: LoginLimitOptions
  /** Bounds of login password checks; tests narrow them. A lower scrypt `cost` is for tests only (production is OWASP's minimum). */
  passwordHashing?: PasswordHasherOptions
  /** SSH authentication failures allowed per address; tests shorten it. */
  sshAuthLimit?: { maxFailures?: number; windowSeconds?: number }
  /** Tunnel server tuning beyond the config (handshake pacing, keepalives); tests shorten it. */
  tunnel?: Partial<Omit<TunnelServerOptions, 'port' | 'host'>>
  /** ACME polling, retry and check intervals; tests shorten them. */
  tls?: AcmeTuning
  /** Registration attempts allowed per address; tests shorten it. */
  registerLimit?: RegistrationLimitOptions
  /** How often agents send heartbeats (30 s); tests shorten it. */
  agentHeartbeatSeconds?: number
  /** Where the built agent executable is (dist/agent); tests point it elsewhere. */
  agentDir?: string
  /** Failed Ignition config lookups allowed per address; tests shorten it. */
  configFetchLimit?: ConfigFetchLimitOptions
  /** Ping interval of the console's event stream (25 s); tests shorten it. */
  eventPingMs?: number
  /** Per-device agent API requests per window (600 a minute); tests shorten it. */
  agentRateLimit?: AgentRateLimitOptions
  /** How often retention runs (from the config); tests shorten it. */
  retentionIntervalMs?: number
  /** How often open terminals and event streams re-verify their credential (15 s); tests shorten it. */
  accessRecheckMs?: number
  /** How often the web terminal pings the browser (30 s); tests shorten it. */
  terminalPingSeconds?: number
  /** How often the rollout engine ticks (from the config); tests shorten it. */
  rolloutTickMs?: number
  /** Keep-alive comment interval of live log streams (the config's, 15 s); tests shorten it. */
  logKeepAliveMs?: number
  /** How often a live log stream looks for entries another gateway node stored (2 s); entries stored on this node arrive at once. */
  logFollowPollMs?: number
  /** Set by `edgetainer server --workers N` in each worker: plain HTTP connections move to the worker holding their device. */
  workerHandoff?: WorkerHandoff
  /** The cluster peer listener's handshake timeout (10 s) and cap on connections still handshaking (1024); tests lower them. */
  peerListener?: { handshakeTimeoutMs?: number; maxPending?: number }
}
