import type { Authorization } from 'acme-client'
import { acmeClientModule } from './acme-client-module.js'
import type { Logger } from '../logger.js'
import type { AcmeAccount } from './acme-account.js'
import type { AlpnChallenges } from './alpn-challenge.js'
import type { DnsHook } from './dns-hook.js'
import type { HttpChallenges } from './http-challenge.js'

export type ChallengeType = 'http-01' | 'tls-alpn-01'

interface Challenge {
  type: string
  token?: string
}

/**
 * Places one ACME order for a set of host names and returns the chain and its
 * new key. acme-client's `auto()` drives the order; this file only publishes
 * and withdraws the challenge answers.
 *
 * acme-client can first fetch each answer itself from the public name
 * (`skipChallengeVerification: false`). The gateway skips that: it answers
 * challenges from its own memory, so the self-check would only test whether
 * the gateway can reach itself through its public address, which hairpin NAT
 * and split DNS often forbid even when the CA gets through fine. Failed
 * validations are instead bounded by the retry backoff.
 */
export function createAcmeIssuer(deps: {
  account: AcmeAccount
  challenge: ChallengeType
  http: HttpChallenges
  alpn: AlpnChallenges
  dns: DnsHook | undefined
  onOrder?: (result: 'success' | 'failure') => void
  logger: Logger
}) {
  const { http, alpn, dns, logger } = deps

  async function publish(authz: Authorization, challenge: Challenge, keyAuthorization: string): Promise<void> {
    const host = authz.identifier.value
    switch (challenge.type) {
      case 'http-01':
        await http.set(challenge.token!, keyAuthorization)
        return
      case 'tls-alpn-01': {
        const { crypto: acmeCrypto } = await acmeClientModule()
        const key = await acmeCrypto.createPrivateEcdsaKey()
        const [, cert] = await acmeCrypto.createAlpnCertificate(authz, keyAuthorization, key)
        alpn.set(host, cert.toString(), key.toString())
        return
      }
      case 'dns-01':
        if (!dns) throw new Error('dns-01 needs acme.dns_hook')
        await dns.set(`_acme-challenge.${host}`, keyAuthorization)
        return
      default:
        throw new Error(`challenge type ${challenge.type} is not supported`)
    }
  }

  async function withdraw(authz: Authorization, challenge: Challenge, keyAuthorization: string): Promise<void> {
    if (challenge.type === 'http-01') await http.delete(challenge.token!)
    else if (challenge.type === 'tls-alpn-01') alpn.delete(authz.identifier.value)
    else if (challenge.type === 'dns-01' && dns) await dns.clear(`_acme-challenge.${authz.identifier.value}`, keyAuthorization)
  }

  /** Orders a certificate for `hosts` (the first becomes the common name when it fits). */
  async function order(hosts: string[]): Promise<{ certPem: string; keyPem: string }> {
    const client = await deps.account.client()
    const { crypto: acmeCrypto } = await acmeClientModule()
    const keyPem = await acmeCrypto.createPrivateEcdsaKey()
    // A common name longer than 64 characters is invalid; SANs alone are enough for every client.
    const commonName = hosts[0]!.length <= 64 ? hosts[0] : undefined
    const [, csr] = await acmeCrypto.createCsr({ commonName, altNames: [...hosts] }, keyPem)
    const wildcard = hosts.some((h) => h.startsWith('*.'))
    logger.info({ hosts, challenge: wildcard ? 'dns-01' : deps.challenge }, 'placing ACME order')
    try {
      const certPem = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        skipChallengeVerification: true,
        // Wildcards can only be proven through DNS.
        challengePriority: wildcard ? ['dns-01'] : [deps.challenge],
        challengeCreateFn: publish,
        challengeRemoveFn: withdraw,
      })
      deps.onOrder?.('success')
      return { certPem, keyPem: keyPem.toString() }
    } catch (err) {
      deps.onOrder?.('failure')
      throw err
    }
  }

  return { order }
}

export type AcmeIssuer = ReturnType<typeof createAcmeIssuer>
