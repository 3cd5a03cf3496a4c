import net from 'node:net'
import { z } from 'zod'

/** One OpenSSH public key line: type, base64 blob, optional comment; never a private key. */
export const publicKeyLine = z
  .string()
  .trim()
  .regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/, 'must be an OpenSSH public key line')

const hostname = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, 'must be a host name label (letters, digits, hyphens)')

const ipAddress = z.string().refine((s) => net.isIP(s) !== 0, 'must be an IP address')

const cidr = z.string().refine((s) => {
  const [ip = '', prefix, extra] = s.split('/')
  const family = net.isIP(ip)
  if (!family || prefix === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefix)) return false
  return Number(prefix) <= (family === 4 ? 32 : 128)
}, 'must be an address with its prefix length, e.g. 192.168.1.20/24')

/** A fixed address for the device's wired interface, written as a systemd-networkd file. */
export const staticNetwork = z
  .object({
    address: cidr,
    /** Omitted for a link that only reaches its own subnet (the gateway is on it, or a proxy is). */
    gateway: ipAddress.optional(),
    dns: z.array(ipAddress).max(8).default([]),
    /** systemd-networkd `Name=` globs; the default matches wired NICs but not docker's bridges and veths. */
    interface: z.string().regex(/^[A-Za-z0-9*?.:_ -]+$/).optional(),
  })
  .strict()

export const networkSettings = z.union([z.object({ dhcp: z.literal(true) }).strict(), staticNetwork])

const absolutePath = z
  .string()
  .regex(/^\/[^\0]*$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..')

/** A file the admin wants on the device as well (a CA bundle, a motd); small and inline. */
export const extraFile = z
  .object({
    path: absolutePath,
    contents: z.string().max(256 * 1024),
    /** Decimal, as Ignition wants it (420 = 0644). */
    mode: z.number().int().min(0).max(0o777).default(0o644),
  })
  .strict()

/** Everything the renderers need; the gateway (or the CLI) gathers it from the token and its own config. */
export const provisioningInput = z
  .object({
    gateway: z
      .object({
        /** How the device reaches the gateway's API: registration and the agent download. */
        url: z.string().url().regex(/^https?:\/\//, 'must be http(s)'),
        sshHost: z.string().min(1),
        sshPort: z.number().int().min(1).max(65535),
        /** The gateway's SSH host key, which the agent pins from its first connection on. */
        hostKey: publicKeyLine,
        /** The web terminal's key, authorised for the device user. */
        terminalPublicKey: publicKeyLine,
        /** The gateway's SSH user CA: the device's sshd trusts certificates it signs (docs/admin-access.md). */
        userCaPublicKey: publicKeyLine.optional(),
        /** The agent release key (`ed25519:<base64url>`) the agent pins to verify signed updates. */
        releaseKey: z
          .string()
          .regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'must be an ed25519:<base64url> release key')
          .optional(),
      })
      .strict(),
    /** The registration token: the one secret in the config, one-time and short-lived. */
    token: z.string().min(16).regex(/^[A-Za-z0-9_.~-]+$/, 'must be URL-safe'),
    agentExecutable: z
      .object({
        url: z.string().url(),
        sha512: z.string().regex(/^[0-9a-f]{128}$/, 'must be 128 lowercase hex digits'),
      })
      .strict(),
    /** Written to /etc/hostname when given; a batch token leaves each box its own (DHCP or Flatcar's default). */
    hostname: hostname.optional(),
    /** The device user that gets the SSH keys (Flatcar's is `core`). */
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).default('core'),
    /** Extra admin keys for the device user, next to the terminal key. */
    sshAuthorizedKeys: z.array(publicKeyLine).max(64).default([]),
    network: networkSettings.default({ dhcp: true }),
    extraFiles: z.array(extraFile).max(32).default([]),
    /** Where the agent keeps its key pair and outbox on the device. */
    agentDataDir: absolutePath.default('/var/lib/edgetainer-agent'),
  })
  .strict()

export type ProvisioningInput = z.input<typeof provisioningInput>
export type ParsedProvisioningInput = z.output<typeof provisioningInput>
export type StaticNetwork = z.output<typeof staticNetwork>
