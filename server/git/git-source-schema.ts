import { z } from 'zod'
import { checkRef, checkRepoPath, parseRemote } from './git-remote.js'

// The git fields of a software write (POST/PUT /api/software), checked at the edge.

const repoPath = z
  .string()
  .trim()
  .max(1024)
  .transform((value, ctx) => {
    const { path, error } = checkRepoPath(value)
    if (error) ctx.addIssue({ code: 'custom', message: error })
    return path ?? value
  })

/**
 * A secret as written: printable, bounded (it travels in an HTTP header or an HMAC key). A refine,
 * not a regex: a pattern with a minimum length makes schema-driven generators (the API fuzzer)
 * filter for ever.
 */
const secretText = (what: string, min = 1) =>
  z
    .string()
    .min(min, `must be at least ${min} characters`)
    .max(4096)
    .refine((v) => /^[\x20-\x7e]+$/.test(v), `${what} must be printable ASCII`)

export const gitSourceFields = {
  compose_path: repoPath.nullish(),
  defaults_path: repoPath.nullish(),
  /** 0 turns polling off; otherwise at least the gateway's git.min_poll_seconds. */
  poll_interval_seconds: z.number().int().min(0).max(7 * 86_400).optional(),
  git_username: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\s:]+$/, 'must have no spaces or colons')
    .nullish(),
  /** HTTPS token (sealed at rest, never returned); null removes it. */
  git_token: secretText('the token').nullish(),
  /** Webhook secret (sealed at rest, never returned); null removes it. POST .../webhook-secret generates one. */
  webhook_secret: secretText('the webhook secret', 16).nullish(),
  /** known_hosts lines for an SSH remote; null forgets them (the next fetch pins what it sees). */
  ssh_known_hosts: z
    .string()
    .max(16 * 1024)
    .regex(/^[^\0]*$/)
    .nullish(),
}

/** The remote's own checks, beyond the shape software-schema.ts checks: a transport the gateway fetches over, no credentials in it. */
export function remoteProblem(url: string): string | undefined {
  const parsed = parseRemote(url)
  return typeof parsed === 'string' ? parsed : undefined
}

export function refProblem(ref: string): string | undefined {
  return checkRef(ref)
}
