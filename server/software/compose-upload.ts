import type { Request, Response } from 'express'
import multer from 'multer'
import { DomainError, ValidationError } from '../errors.js'
import { MAX_COMPOSE_BYTES } from './compose-validation.js'

export interface ComposeUpload {
  /** The compose file's text. */
  text: string
  filename: string
  /** The form's text fields. */
  fields: Record<string, unknown>
}

/**
 * Reads a `multipart/form-data` upload with one compose file in field
 * `file`, kept in memory (compose files are small and bounded).
 */
export function createComposeUpload() {
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: MAX_COMPOSE_BYTES, files: 1, fields: 10, fieldSize: 4096, parts: 12 },
  }).single('file')

  return async function readUpload(req: Request, res: Response): Promise<ComposeUpload> {
    if (!req.is('multipart/form-data')) throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'send the compose file as multipart/form-data in field "file"')
    await new Promise<void>((resolve, reject) => {
      parse(req, res, (err: unknown) => {
        if (!err) return resolve()
        if (err instanceof multer.MulterError) {
          if (err.code === 'LIMIT_FILE_SIZE') return reject(new DomainError('BODY_TOO_LARGE', `file: a compose file is at most ${MAX_COMPOSE_BYTES} bytes`, 'file'))
          return reject(new ValidationError(err.field ?? 'file', err.message))
        }
        // Busboy's errors for malformed multipart bodies: the client's fault, and nothing internal to echo.
        reject(new DomainError('INVALID_MULTIPART', 'request body is not valid multipart/form-data'))
      })
    })
    if (!req.file) throw new ValidationError('file', 'a compose file is required')
    const text = req.file.buffer.toString('utf8')
    return { text, filename: req.file.originalname, fields: { ...(req.body as Record<string, unknown>) } }
  }
}

export type ReadComposeUpload = ReturnType<typeof createComposeUpload>
