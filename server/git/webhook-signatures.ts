import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export type WebhookProvider = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'gogs'

type Headers = Record<string, string | string[] | undefined>

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return typeof v === 'string' ? v : undefined
}

/** Constant-time comparison of two strings of any length (digests first, so lengths do not leak either). */
function sameText(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex')
}

/**
 * Checks a webhook delivery against the software's secret, in the format of
 * the host that sent it:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
 * - Gitea, Forgejo, Gogs: `X-Gitea-Signature` / `X-Forgejo-Signature` / `X-Gogs-Signature: <hex HMAC-SHA256>`;
 * - GitLab: `X-Gitlab-Token: <the secret itself>`.
 * Returns the provider whose check passed, or undefined (then nothing may be imported).
 */
export function verifyWebhook(headers: Headers, body: Buffer, secret: string): WebhookProvider | undefined {
  if (!secret) return undefined
  const github = header(headers, 'x-hub-signature-256')
  if (github !== undefined) {
    const m = /^sha256=([0-9a-f]{64})$/i.exec(github.trim())
    return m && sameText(m[1]!.toLowerCase(), hmacHex(secret, body)) ? 'github' : undefined
  }
  for (const provider of ['gitea', 'forgejo', 'gogs'] as const) {
    const sig = header(headers, `x-${provider}-signature`)
    if (sig === undefined) continue
    return /^[0-9a-f]{64}$/i.test(sig.trim()) && sameText(sig.trim().toLowerCase(), hmacHex(secret, body)) ? provider : undefined
  }
  const gitlab = header(headers, 'x-gitlab-token')
  if (gitlab !== undefined) return sameText(gitlab, secret) ? 'gitlab' : undefined
  return undefined
}

/**
 * The ref a push delivery names (`refs/heads/main`, `refs/tags/v1`), if the
 * body is a JSON push event (or GitHub's form-encoded `payload=`); undefined
 * for other events or bodies, which then sync anyway.
 */
export function pushedRef(body: Buffer, contentType: string | undefined): string | undefined {
  try {
    let text = body.toString('utf8')
    if (contentType?.startsWith('application/x-www-form-urlencoded')) text = new URLSearchParams(text).get('payload') ?? ''
    const parsed = JSON.parse(text) as { ref?: unknown }
    return typeof parsed?.ref === 'string' ? parsed.ref : undefined
  } catch {
    return undefined
  }
}

/** Whether a pushed ref is the software's ref (a branch or tag name, or a full ref). */
export function refMatches(pushed: string, configured: string): boolean {
  return pushed === configured || pushed === `refs/heads/${configured}` || pushed === `refs/tags/${configured}`
}
