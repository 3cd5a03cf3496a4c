import { z } from 'zod'
import { paginationQuery } from '../api/validation.js'
import { softwareEnvBody } from '../env/env-var-schema.js'
import { MAX_COMPOSE_BYTES } from './compose-validation.js'
import { gitSourceFields } from '../git/git-source-schema.js'

// Input schemas of the software routes (and the version label deploys use too).

const name = z.string().trim().min(1).max(100)
const description = z.string().max(2000).nullish()
const source = z.enum(['manual', 'git'])
// Git remotes are URLs or scp-style `user@host:path`; no fetch happens now, so only the shape is checked.
const repoUrl = z.string().trim().min(1).max(2000).regex(/^(https?:\/\/|ssh:\/\/|git:\/\/|[\w.-]+@[\w.-]+:)\S+$/, 'must be a git remote: https://, ssh://, git:// or user@host:path').nullish()
const gitRef = z.string().trim().min(1).max(255).nullish()
const compose = z.string().max(MAX_COMPOSE_BYTES, `must be at most ${MAX_COMPOSE_BYTES} bytes`)
export const versionLabel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, 'must be 1-64 letters, digits, dot, dash, plus or underscore, starting with a letter or digit')

export const createSoftwareBody = z
  .object({ name, description, source: source.optional(), repo_url: repoUrl, git_ref: gitRef, docker_compose_yaml: compose.optional(), env_vars: softwareEnvBody.optional(), version: versionLabel.optional(), ...gitSourceFields })
  .strict()
export const updateSoftwareBody = z
  .object({ name: name.optional(), description, source: source.optional(), repo_url: repoUrl, git_ref: gitRef, docker_compose_yaml: compose.optional(), env_vars: softwareEnvBody.optional(), version: versionLabel.optional(), ...gitSourceFields })
  .strict()
export const uploadFields = z.object({ software_id: z.uuid().optional(), name: name.optional(), description, version: versionLabel.optional() }).strict()
export const softwareListQuery = paginationQuery.extend({ q: z.string().max(100).optional() })

