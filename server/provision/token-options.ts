import { z } from 'zod'
import { parsePublicKey } from '../devices/device-keys.js'

/**
 * What a registration token carries besides its fleet: how devices installed
 * with it are named, networked and reached. Provisioning (Ignition) renders
 * these; registration applies `name_pattern`.
 */

const ip = z.union([z.ipv4(), z.ipv6()])

const staticNetwork = z
  .object({
    address: z.union([z.cidrv4(), z.cidrv6()]),
    gateway: ip.optional(),
    dns: z.array(ip).max(8).default([]),
  })
  .strict()

const dhcpNetwork = z.object({ dhcp: z.literal(true) }).strict()

/** `{n}` is the token's use number (1, 2, …); `{hostname}` the name the device reports. */
export const namePattern = z
  .string()
  .trim()
  .min(1)
  .max(80)
  .regex(/^[A-Za-z0-9 ._{}-]+$/, 'may hold letters, digits, space, dot, dash, underscore and the placeholders {n} and {hostname}')
  .refine((p) => !/\{(?!n\}|hostname\})/.test(p), 'the only placeholders are {n} and {hostname}')

const sshKey = z
  .string()
  .max(16_384)
  .transform((line, ctx) => {
    try {
      return parsePublicKey(line).line
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^[a-z_]+: /, '') })
      return z.NEVER
    }
  })

export const tokenOptionsSchema = z
  .object({
    name_pattern: namePattern.optional(),
    network: z.union([dhcpNetwork, staticNetwork]).optional(),
    /** Extra admin public keys for the device's login user. */
    ssh_keys: z.array(sshKey).max(32).optional(),
    hostname: z
      .string()
      .max(63)
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be one DNS label')
      .optional(),
  })
  .strict()

export type TokenOptions = z.output<typeof tokenOptionsSchema>

/** The device name a registration gets: the token's pattern, else the reported hostname, else the device id. */
export function deviceNameFor(options: TokenOptions, use: number, hostname: string | undefined, deviceId: string): string {
  const host = hostname?.trim() || deviceId
  if (!options.name_pattern) return host.slice(0, 100)
  return options.name_pattern.replaceAll('{n}', String(use)).replaceAll('{hostname}', host).slice(0, 100)
}
