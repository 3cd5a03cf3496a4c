import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/** Paths pino blanks out wherever they appear, so a careless log call cannot leak a secret. */
const redactPaths = [
  'password',
  'token',
  'secret',
  'authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
]

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { app: 'edgetainer' } }, destination)
}
