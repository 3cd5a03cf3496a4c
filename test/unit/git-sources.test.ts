import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { checkRef, checkRepoPath, commitBrowseUrl, parseRemote } from '../../server/git/git-remote.js'
import { pushedRef, refMatches, verifyWebhook } from '../../server/git/webhook-signatures.js'
import { gitErrorSummary } from '../../server/git/git-cli.js'

const SHA = 'a'.repeat(40)

t.test('remotes: https and ssh pass, credentials and other transports are refused', async (t) => {
  t.match(parseRemote('https://github.com/acme/edge.git'), { kind: 'https', host: 'github.com' })
  t.match(parseRemote('git@gitlab.example.com:acme/edge.git'), { kind: 'ssh', host: 'gitlab.example.com' })
  t.match(parseRemote('ssh://git@host:2222/srv/edge.git'), { kind: 'ssh', host: 'host' })
  t.match(parseRemote('https://user:tok@github.com/x.git'), /password or token/)
  t.match(parseRemote('https://user@github.com/x.git'), /user name/)
  t.match(parseRemote('git://example.com/x.git'), /not supported/)
  t.type(parseRemote('ext::sh -c touch% /tmp/pwned'), 'string', 'the ext:: transport runs commands: refused')
  t.match(parseRemote('ext::sh'), /not supported|must be a git remote/)
  t.match(parseRemote('-uhttps://x'), /must not start/)
  t.match(parseRemote('ssh://-oProxyCommand=x/y'), /host/)
})

t.test('repository paths: relative, no traversal, no .git', async (t) => {
  t.same(checkRepoPath('deploy//compose.yml'), { path: 'deploy/compose.yml' })
  for (const bad of ['../x', 'a/../../b', '/etc/passwd', '.git/config', 'a\\b', 'a\0b', '', '.']) t.ok(checkRepoPath(bad).error, JSON.stringify(bad))
  let n = 0
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      n++
      const { path } = checkRepoPath(s)
      return path === undefined || (!path.startsWith('/') && !path.split('/').includes('..'))
    }),
  )
  t.comment(`ran ${n} cases`)
})

t.test('refs: branch and tag names, nothing git would read as an option or a revision expression', async (t) => {
  for (const ok of ['main', 'release/1.2', 'v1.0.0', 'refs/heads/main']) t.equal(checkRef(ok), undefined, ok)
  for (const bad of ['-upload-pack=x', 'a..b', 'a b', 'x~1', 'x^', 'a:b', 'x.lock', 'HEAD@{1}', '']) t.ok(checkRef(bad), bad)
})

t.test('commit links for GitHub-, Gitea- and GitLab-style hosts; none for unknown ssh hosts', async (t) => {
  t.equal(commitBrowseUrl('https://github.com/acme/edge.git', SHA), `https://github.com/acme/edge/commit/${SHA}`)
  t.equal(commitBrowseUrl('git@github.com:acme/edge.git', SHA), `https://github.com/acme/edge/commit/${SHA}`)
  t.equal(commitBrowseUrl('https://gitlab.example.com/g/edge.git', SHA), `https://gitlab.example.com/g/edge/-/commit/${SHA}`)
  t.equal(commitBrowseUrl('https://codeberg.org/a/b', SHA), `https://codeberg.org/a/b/commit/${SHA}`)
  t.equal(commitBrowseUrl('ssh://git@internal.example:2222/srv/edge.git', SHA), undefined)
  t.equal(commitBrowseUrl('https://github.com/a/b', 'not-a-sha'), undefined)
})

t.test('webhook signatures: each host format, and nothing else', async (t) => {
  const secret = 'webhook-secret-1234567890'
  const body = Buffer.from('{"ref":"refs/heads/main"}')
  const hmac = createHmac('sha256', secret).update(body).digest('hex')
  t.equal(verifyWebhook({ 'x-hub-signature-256': `sha256=${hmac}` }, body, secret), 'github')
  t.equal(verifyWebhook({ 'x-gitea-signature': hmac }, body, secret), 'gitea')
  t.equal(verifyWebhook({ 'x-forgejo-signature': hmac.toUpperCase() }, body, secret), 'forgejo')
  t.equal(verifyWebhook({ 'x-gitlab-token': secret }, body, secret), 'gitlab')
  t.equal(verifyWebhook({ 'x-hub-signature-256': `sha256=${hmac}` }, Buffer.from(body.toString() + ' '), secret), undefined, 'another body')
  t.equal(verifyWebhook({ 'x-hub-signature-256': 'sha256=00', 'x-gitlab-token': secret }, body, secret), undefined, 'a bad GitHub signature is not rescued by another header')
  t.equal(verifyWebhook({ 'x-gitlab-token': secret }, body, ''), undefined, 'no secret, no delivery')
  t.equal(verifyWebhook({}, body, secret), undefined)
  let n = 0
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('x-hub-signature-256', 'x-gitea-signature', 'x-gitlab-token', 'x-forgejo-signature'), fc.string()), fc.uint8Array(), (headers, bytes) => {
      n++
      return verifyWebhook(headers, Buffer.from(bytes), secret) === undefined
    }),
  )
  t.comment(`ran ${n} cases`)
  t.equal(pushedRef(body, 'application/json'), 'refs/heads/main')
  t.equal(pushedRef(Buffer.from('payload=%7B%22ref%22%3A%22v1%22%7D'), 'application/x-www-form-urlencoded'), 'v1')
  t.equal(pushedRef(Buffer.from('not json'), 'application/json'), undefined)
  t.ok(refMatches('refs/tags/v1', 'v1'))
  t.notOk(refMatches('refs/heads/feature', 'main'))
})

t.test("git's error summary drops credentials from URLs", async (t) => {
  const summary = gitErrorSummary({ stdout: '', stderr: "hint: x\nfatal: unable to access 'https://user:tok@host/x.git/': 403\n", exitCode: 128, timedOut: false, tooLarge: false })
  t.equal(summary, "fatal: unable to access 'https://host/x.git/': 403")
})
