import { pino, type DestinationStream, type Logger } from 'pino'

export type { Logger }

/** Blanked wherever they appear: the registration token, env values, keys. */
const redactPaths = ['token', '*.token', 'env', '*.env', 'control_key', '*.control_key', 'privateKey', '*.privateKey']

export function createAgentLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { app: 'edgetainer-agent' } }, destination)
}
