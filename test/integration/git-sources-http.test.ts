import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { createRepoRoot, createTestRepo } from '../lib/git-repo.js'
import { startGitHttpServer } from '../lib/git-http-server.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * Software from git over smart HTTP (git http-backend behind a token check):
 * on-demand sync, signed webhooks from each host kind, polling, refusals of
 * hostile repository content, and fuzzed webhook deliveries.
 */
const TOKEN = 'tok-5ec2e7-for-git'
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n    network_mode: host\n`

const root = createRepoRoot(t)
const git = await startGitHttpServer(t, { root, token: TOKEN })
const gw = await startTestGateway(t, 'postgres', {
  env: { EDGETAINER_GIT_ALLOW_INSECURE_TRANSPORTS: 'true', EDGETAINER_GIT_MIN_POLL_SECONDS: '1', EDGETAINER_GIT_POLL_CHECK_SECONDS: '0.1', EDGETAINER_GIT_FETCH_TIMEOUT_SECONDS: '20' },
})
const { http, adminToken: token } = gw

async function createGitSoftware(name: string, repo: string, extra: Record<string, unknown> = {}) {
  const res = await http.post('/api/software', { name, source: 'git', repo_url: `${git.url}/${repo}.git`, git_ref: 'main', git_token: TOKEN, poll_interval_seconds: 0, ...extra }, { token })
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}
const versions = async (id: string) => (await http.get(`/api/software/${id}/versions`, { token })).body.items as Record<string, any>[]
const detail = async (id: string) => (await http.get(`/api/software/${id}`, { token })).body

const repo = createTestRepo(root, 'stack')
const first = repo.push({ 'compose.yaml': compose('nginx:1.27'), '.edgetainer/defaults.env': 'GREETING=hello\n# a comment\nexport MODE="quoted value"\n' }, 'First stack\n\nWith a body.')
const sw = await createGitSoftware('from-git', 'stack')

t.test('a sync imports the compose and defaults of the ref as a version carrying its commit', async (t) => {
  const res = await http.post(`/api/software/${sw.id}/sync`, undefined, { token })
  t.equal(res.status, 200, JSON.stringify(res.body))
  t.match(res.body, { status: 'imported', version: '1', compose_path: 'compose.yaml', defaults_path: '.edgetainer/defaults.env', commit: { sha: first, author: 'Dana Dev <dana@example.com>' } })
  const [v] = await versions(sw.id)
  t.match(v, { version: '1', commit_sha: first, commit_author: 'Dana Dev <dana@example.com>', commit_message: 'First stack\n\nWith a body.' })
  t.equal(v!.commit_url, `${git.url}/stack/commit/${first}`, 'an http(s) remote gets a GitHub/Gitea-style commit link')
  const d = await detail(sw.id)
  t.equal(d.docker_compose_yaml, compose('nginx:1.27'), 'the compose arrives byte for byte')
  t.match(d.env_vars.vars, { GREETING: { value: 'hello', secret: false }, MODE: { value: 'quoted value' } })
  t.match(d.git, { auth: 'token', has_token: true, last_sync_status: 'ok', last_sync_error: null, last_commit: first, poll_interval_seconds: 0, next_poll_at: null })
  t.ok(d.git.last_sync_at, 'last sync is shown')
  t.notMatch(JSON.stringify(d), TOKEN, 'the token is never returned')
  t.equal(git.served() > 0, true, 'the fetch went through the token-checked server')

  const again = await http.post(`/api/software/${sw.id}/sync`, undefined, { token })
  t.match(again.body, { status: 'unchanged', version: null })
  repo.push({ 'README.md': '# docs only\n' }, 'Docs')
  t.match((await http.post(`/api/software/${sw.id}/sync`, undefined, { token })).body, { status: 'unchanged' }, 'a commit that changes neither file makes no version')
  t.equal((await versions(sw.id)).length, 1)
})

t.test('a tag, or a full ref name, works as the ref', async (t) => {
  const tagged = createTestRepo(root, 'tagged')
  const sha = tagged.push({ 'compose.yml': compose('nginx:tagged') }, 'Release 1.0')
  tagged.tag('v1.0')
  tagged.push({ 'compose.yml': compose('nginx:after-the-tag') }, 'After the tag')
  const byTag = await createGitSoftware('by-tag', 'tagged', { git_ref: 'v1.0' })
  t.match((await http.post(`/api/software/${byTag.id}/sync`, undefined, { token })).body, { status: 'imported', commit: { sha } }, 'an annotated tag resolves to its commit')
  const byRef = await createGitSoftware('by-full-ref', 'tagged', { git_ref: 'refs/heads/main' })
  t.match((await http.post(`/api/software/${byRef.id}/sync`, undefined, { token })).body, { status: 'imported', compose_path: 'compose.yml' })
  t.equal((await detail(byRef.id)).docker_compose_yaml, compose('nginx:after-the-tag'))
})

t.test('a wrong token is a clear fetch error, recorded, with no secret in it', async (t) => {
  const bad = await createGitSoftware('bad-token', 'stack', { git_token: 'wrong-token-value' })
  const res = await http.post(`/api/software/${bad.id}/sync`, undefined, { token })
  t.equal(res.status, 502)
  t.equal(res.body.code, 'GIT_FETCH_FAILED')
  t.match(res.body.error, /git fetch failed/)
  t.notMatch(JSON.stringify(res.body), /wrong-token-value/)
  const d = await detail(bad.id)
  t.match(d.git, { last_sync_status: 'error', last_sync_error: /git fetch failed/ })
  t.equal(d.current_version, null, 'no version')
})

const sign = {
  github: (secret: string, body: string) => ({ 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`, 'x-github-event': 'push' }),
  gitea: (secret: string, body: string) => ({ 'x-gitea-signature': createHmac('sha256', secret).update(body).digest('hex'), 'x-gitea-event': 'push' }),
  forgejo: (secret: string, body: string) => ({ 'x-forgejo-signature': createHmac('sha256', secret).update(body).digest('hex') }),
  gitlab: (secret: string) => ({ 'x-gitlab-token': secret, 'x-gitlab-event': 'Push Hook' }),
}

t.test('a push becomes a new version through a signed webhook, for GitHub, GitLab, Gitea and Forgejo', async (t) => {
  const gen = await http.post(`/api/software/${sw.id}/webhook-secret`, undefined, { token })
  t.equal(gen.status, 200)
  const secret = gen.body.webhook_secret as string
  t.ok(secret.length >= 16)
  t.match((await detail(sw.id)).git, { has_webhook_secret: true, webhook_url: new RegExp(`/api/webhooks/git/${sw.id}$`) })
  t.notMatch(JSON.stringify(await detail(sw.id)), secret, 'the secret is shown once, never again')

  let expected = 1
  for (const provider of ['github', 'gitlab', 'gitea', 'forgejo'] as const) {
    const sha = repo.push({ 'compose.yaml': compose(`nginx:${provider}`) }, `Use the ${provider} image`)
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha })
    const res = await http.post(`/api/webhooks/git/${sw.id}`, body, { headers: sign[provider](secret, body) })
    t.equal(res.status, 202, `${provider}: ${JSON.stringify(res.body)}`)
    t.match(res.body, { accepted: true, provider })
    expected++
    const v = await waitFor(`version ${expected} from ${provider}`, async () => (await versions(sw.id)).find((x) => x.commit_sha === sha))
    t.equal(v.version, String(expected), `${provider}'s push is version ${expected}`)
    t.equal(v.commit_message, `Use the ${provider} image`)
  }
  const diff = await http.get(`/api/software/${sw.id}/versions/1/diff/${expected}`, { token })
  t.equal(diff.status, 200)
  t.match(diff.body.diff, /version 1 \(commit [0-9a-f]{12}\)/, 'the diff names the commits')
  t.match(diff.body.diff, /-    image: nginx:1\.27\n\+    image: nginx:forgejo/)

  const other = JSON.stringify({ ref: 'refs/heads/feature' })
  const ignored = await http.post(`/api/webhooks/git/${sw.id}`, other, { headers: sign.github(secret, other) })
  t.match(ignored, { status: 202, body: { accepted: false } }, 'a push to another branch is acknowledged and ignored')
  const form = `payload=${encodeURIComponent(JSON.stringify({ ref: 'refs/heads/main' }))}`
  const formRes = await http.post(`/api/webhooks/git/${sw.id}`, form, { headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign.github(secret, form) } })
  t.match(formRes, { status: 202, body: { accepted: true } }, "GitHub's form-encoded deliveries verify too")
  await waitFor('the webhook syncs to finish', async () => !(await detail(sw.id)).git.syncing)
})

t.test('wrong or missing signatures get 401 and import nothing; fuzzed deliveries never get a 5xx', async (t) => {
  const secret = (await http.post(`/api/software/${sw.id}/webhook-secret`, undefined, { token })).body.webhook_secret as string
  const before = (await versions(sw.id)).length
  repo.push({ 'compose.yaml': compose('nginx:unsigned') }, 'Not to be imported by a forged webhook')
  const body = JSON.stringify({ ref: 'refs/heads/main' })
  const wrongs: Record<string, string>[] = [
    {},
    sign.github('not-the-secret-at-all', body),
    sign.gitea('not-the-secret-at-all', body),
    sign.gitlab('not-the-secret-at-all'),
    { 'x-hub-signature-256': 'sha256=' },
    { 'x-hub-signature-256': sign.github(secret, body)['x-hub-signature-256']!.replace('sha256=', 'sha1=') },
    // Right signature, other body.
    sign.github(secret, body + ' '),
  ]
  for (const headers of wrongs) {
    const res = await http.post(`/api/webhooks/git/${sw.id}`, body, { headers })
    t.equal(res.status, 401, JSON.stringify(headers))
    t.equal(res.body.code, 'WEBHOOK_SIGNATURE_INVALID')
  }
  const unknown = await http.post('/api/webhooks/git/00000000-0000-4000-8000-000000000000', body, { headers: sign.github(secret, body) })
  t.equal(unknown.status, 401, 'an unknown software is the same 401')
  const manual = (await http.post('/api/software', { name: 'manual-one', docker_compose_yaml: compose('x:1') }, { token })).body
  t.equal((await http.post(`/api/webhooks/git/${manual.id}`, body, { headers: sign.github(secret, body) })).status, 401, 'so is manual software')

  const headerName = fc.constantFrom('x-hub-signature-256', 'x-gitea-signature', 'x-forgejo-signature', 'x-gogs-signature', 'x-gitlab-token', 'content-type', 'content-encoding', 'x-github-event')
  const headerValue = fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^sha256=[0-9a-f]{0,70}$/), fc.stringMatching(/^[0-9a-fA-F]{60,70}$/), fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'gzip', 'text/plain'))
  const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '')
  let cases = 0
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
      fc.oneof(fc.string({ maxLength: 400 }), fc.json(), fc.constant(body)),
      fc.constantFrom(sw.id, sw.id.toUpperCase(), 'not-a-uuid', '%E0%A4%A', '../../etc/passwd'),
      async (headers, payload, id) => {
        cases++
        const clean = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, printable(v)]))
        const res = await fetch(`${http.baseUrl}/api/webhooks/git/${id}`, { method: 'POST', headers: clean, body: payload }).catch((err: Error) => ({ status: 0, err }))
        return res.status >= 400 && res.status < 500
      },
    ),
    { numRuns: 150 },
  )
  t.comment(`ran ${cases} cases`)
  t.equal((await http.get('/healthz')).status, 200, 'the gateway is alive')
  t.equal((await versions(sw.id)).length, before, 'nothing was imported')
})

t.test('polling imports a push on its own interval and shows the next poll', async (t) => {
  const pollRepo = createTestRepo(root, 'polled')
  pollRepo.push({ 'docker-compose.yml': compose('redis:7') }, 'Initial')
  const polled = await createGitSoftware('polled', 'polled', { poll_interval_seconds: 1 })
  await waitFor('first poll', async () => (await versions(polled.id)).length === 1)
  const d = await detail(polled.id)
  t.match(d.git, { last_sync_status: 'ok', poll_interval_seconds: 1 })
  t.ok(new Date(d.git.next_poll_at).getTime() > new Date(d.git.last_sync_at).getTime(), 'the next poll is after the last sync')
  t.equal(d.docker_compose_yaml, compose('redis:7'), 'docker-compose.yml is found in the search order')
  const sha = pollRepo.push({ 'docker-compose.yml': compose('redis:8') }, 'Redis 8')
  const v = await waitFor('polled version 2', async () => (await versions(polled.id)).find((x) => x.commit_sha === sha))
  t.equal(v.version, '2')
  t.equal((await http.put(`/api/software/${polled.id}`, { poll_interval_seconds: 0 }, { token })).status, 200, 'polling can be turned off')
  t.equal((await detail(polled.id)).git.next_poll_at, null)
})

t.test('hostile or broken repositories give a clear error and no version', async (t) => {
  const cases: [string, Record<string, string | { symlink: string } | null>, RegExp, Record<string, unknown>?][] = [
    ['empty', { 'README.md': 'nothing here\n' }, /no compose file in commit [0-9a-f]{12}: looked for compose\.yaml, compose\.yml, docker-compose\.yml, docker-compose\.yaml/],
    ['escape', { 'compose.yaml': { symlink: '../../../../etc/passwd' } }, /compose\.yaml is a symlink to \.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd, which leaves the repository: refused/],
    ['absolute', { 'compose.yaml': { symlink: '/etc/passwd' } }, /symlink to \/etc\/passwd, outside the repository: refused/],
    ['dirlink', { 'deploy': { symlink: '..' }, 'x.txt': 'x' }, /deploy is a symlink to \.\., which leaves the repository: refused/, { compose_path: 'deploy/compose.yaml' }],
    ['huge', { 'compose.yaml': compose('nginx:1') + `# ${'x'.repeat(300 * 1024)}\n` }, /compose\.yaml is \d+ bytes, over the limit of 262144 bytes: refused/],
    ['invalid', { 'compose.yaml': 'services:\n  web:\n    build: .\n' }, /compose\.yaml is not a usable compose file: services\.web\.image/],
    ['baddefaults', { 'compose.yaml': compose('nginx:1'), '.edgetainer/defaults.env': '1BAD=x\n' }, /defaults\.env: 1BAD: is not a valid environment variable name/],
  ]
  for (const [name, files, error, extra] of cases) {
    createTestRepo(root, name).push(files, `hostile ${name}`)
    const s = await createGitSoftware(`hostile-${name}`, name, extra)
    const res = await http.post(`/api/software/${s.id}/sync`, undefined, { token })
    t.equal(res.status, 422, `${name}: ${JSON.stringify(res.body)}`)
    t.equal(res.body.code, 'GIT_IMPORT_REFUSED')
    t.match(res.body.error, error, name)
    const d = await detail(s.id)
    t.equal(d.current_version, null, `${name}: no version`)
    t.match(d.git, { last_sync_status: 'error', last_sync_error: error })
  }
  const inside = createTestRepo(root, 'inside')
  inside.push({ 'deploy/stack.yml': compose('nginx:linked'), 'compose.yaml': { symlink: 'deploy/stack.yml' } }, 'a symlink inside the repository')
  const linked = await createGitSoftware('inside', 'inside')
  t.match((await http.post(`/api/software/${linked.id}/sync`, undefined, { token })).body, { status: 'imported', compose_path: 'deploy/stack.yml' }, 'a symlink that stays inside is followed')

  for (const [field, value] of [['compose_path', '../etc/passwd'], ['compose_path', '/etc/passwd'], ['defaults_path', 'a/../../b'], ['compose_path', '.git/config']] as const) {
    const res = await http.post('/api/software', { name: `bad-path-${field}-${value.length}`, source: 'git', repo_url: `${git.url}/stack.git`, [field]: value }, { token })
    t.equal(res.status, 400, `${field}=${value}`)
    t.equal(res.body.field, field)
  }
  for (const url of ['https://user:secret@example.com/x.git', 'git://example.com/x.git', 'ftp://example.com/x']) {
    const res = await http.post('/api/software', { name: `bad-url-${url.length}`, source: 'git', repo_url: url }, { token })
    t.equal(res.status, 400, url)
    t.equal(res.body.field, 'repo_url')
  }
})
