import { DomainError } from '../server/errors.js'

/** Markers that only private key files carry (PEM, OpenSSH, PuTTY). */
const PRIVATE_KEY_MARKERS = [/PRIVATE KEY/, /BEGIN OPENSSH/, /PuTTY-User-Key-File/]

export class PrivateKeyInConfigError extends DomainError {
  constructor() {
    super('PRIVATE_KEY_IN_CONFIG', 'refusing to render a config that contains private key material')
  }
}

/**
 * A device's private key is made on the device and never leaves it, and the
 * gateway's keys stay on the gateway. A config is readable by whoever holds
 * the USB stick, so refuse to produce one that holds any private key, from
 * whatever input it came.
 */
export function assertNoPrivateKey(value: unknown): void {
  const text = JSON.stringify(value)
  if (PRIVATE_KEY_MARKERS.some((m) => m.test(text))) throw new PrivateKeyInConfigError()
}
