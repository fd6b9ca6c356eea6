// tokenProvider against the real oauth2 role (Postfix + Dovecot's oauth2 passdb, tokens from
// the role's issuer; skipped without $RELAYKIT_STATE/servers.env): OAUTHBEARER and XOAUTH2 with
// a token revoked mid-run and refreshed through the provider (a function returning a string,
// and one returning a Promise), every message found in the Maildir by Message-ID; a provider
// that throws, rejects or returns a non-string is an AUTH_FAILED error naming the provider, at
// once; one that never answers is bounded by timeoutSecs; no token in a trace or an error.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import * as relaykit from 'relaykit'
import { Mailer, Profile } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers } = require('./servers.js')

const V = loadServers()
const skip = V && V.RK_OAUTH_TOKEN_URL ? false : `oauth2 role not running (${ENV_FILE})`

async function post(url, form) {
  const r = await fetch(url, { method: 'POST', body: new URLSearchParams(form), signal: AbortSignal.timeout(10000) })
  return { status: r.status, body: await r.json().catch(() => ({})) }
}

async function issue() {
  const { status, body } = await post(V.RK_OAUTH_TOKEN_URL, {
    grant_type: 'password',
    username: V.RK_OAUTH_USER,
    password: V.RK_OAUTH_PASS,
  })
  assert.equal(status, 200, JSON.stringify(body))
  return body.access_token
}

async function revoke(token) {
  assert.equal((await post(V.RK_OAUTH_REVOKE_URL, { token })).status, 200)
}

const profile = (mech, timeoutSecs = 10) =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_OAUTH_PORT),
    timeoutSecs,
    encryptedConnection: true,
    tlsMode: 'starttls',
    tlsCaFile: V.RK_CA_FILE,
    requiresAuthentication: true,
    username: V.RK_OAUTH_USER,
    authMechanisms: [mech],
  })

const message = (mid) => ({
  from: V.RK_OAUTH_USER,
  to: [V.RK_RCPT],
  subject: `relaykit node oauth ${mid}`,
  text: 'sent with a token from a Node token provider\n',
  messageId: mid,
})

/** Message-ID -> how many files in carol's Maildir carry it; polls (bounded) until all came. */
async function delivered(mids, timeoutMs = 30000) {
  const dir = path.join(V.RK_OAUTH_MAIL_DIR, 'relaykit.test', 'carol')
  const counts = new Map()
  const seen = new Set()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const sub of ['new', 'cur']) {
      for (const f of fs.existsSync(path.join(dir, sub)) ? fs.readdirSync(path.join(dir, sub)) : []) {
        const p = path.join(dir, sub, f)
        if (seen.has(p)) continue
        seen.add(p)
        const id = /^Message-ID:\s*(\S+)/im.exec(fs.readFileSync(p, 'latin1'))?.[1]
        if (mids.includes(id)) counts.set(id, (counts.get(id) ?? 0) + 1)
      }
    }
    if (mids.every((m) => counts.has(m))) return counts
    assert.ok(Date.now() < deadline, `only ${counts.size} of ${mids.length} arrived`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A host's provider: keeps its token for each new connection, a fresh one on 'refresh'. */
function caching({ first = null, promise = false } = {}) {
  const p = { token: first, calls: [], tokens: [] }
  p.fn = (username, reason) => {
    assert.equal(username, V.RK_OAUTH_USER)
    const give = async () => {
      if (reason === 'refresh' || p.token === null) p.token = await issue()
      p.calls.push(reason)
      p.tokens.push(p.token)
      return p.token
    }
    if (promise || p.token === null || reason === 'refresh') return give()
    p.calls.push(reason)
    p.tokens.push(p.token)
    return p.token // a plain string
  }
  return p
}

function assertNoToken(tokens, texts) {
  assert.ok(tokens.length > 0)
  for (const t of tokens) {
    for (const form of [t, Buffer.from(t).toString('base64')]) {
      for (const text of texts) assert.ok(!text.includes(form), `a token appears in: ${text.slice(0, 200)}`)
    }
  }
}

describe('tokenProvider', { skip }, () => {
  for (const mech of ['OAUTHBEARER', 'XOAUTH2']) {
    test(`${mech}: a mailer refreshes a token revoked mid-run; every message arrives`, async () => {
      const p = caching()
      const lines = []
      const m = new Mailer(profile(mech), {
        maxConnections: 1,
        maxMessagesPerConnection: 2,
        tokenProvider: p.fn,
        trace: (d, line) => lines.push(`${d}: ${line}`),
      })
      const tag = `${process.pid}.${Date.now()}`
      const mids = [0, 1, 2, 3, 4, 5].map((i) => `<node.oauth.${mech}.${tag}.${i}@relaykit.test>`)
      for (const mid of mids.slice(0, 2)) await m.send(message(mid))
      await revoke(p.tokens[0])
      for (const mid of mids.slice(2)) assert.deepEqual((await m.send(message(mid))).accepted, [V.RK_RCPT])
      const stats = m.stats
      await m.close()
      const counts = await delivered(mids)
      for (const mid of mids) assert.equal(counts.get(mid), 1, mid)
      assert.equal(stats.connectionsOpened, 3)
      assert.deepEqual(p.calls, ['initial', 'initial', 'refresh', 'initial'])
      assert.notEqual(p.tokens[2], p.tokens[0])
      const verdicts = lines.filter((l) => /^S: [25]35/.test(l)).map((l) => l.slice(3, 6))
      assert.deepEqual(verdicts, ['235', '535', '235', '235'])
      assert.ok(lines.some((l) => l.includes(`AUTH ${mech} <redacted>`)))
      assertNoToken(p.tokens, lines)
    })
  }

  test('test() and send() with a dead token: a Promise-returning provider refreshes it', async () => {
    for (const mech of ['OAUTHBEARER', 'XOAUTH2']) {
      const dead = await issue()
      await revoke(dead)
      const p = caching({ first: dead, promise: true })
      const report = await relaykit.test(profile(mech), { tokenProvider: p.fn })
      assert.equal(report.ok, true, JSON.stringify(report.error))
      assert.deepEqual(
        report.auth.attempts.map((a) => [a.mechanism, a.ok, a.smtpCode]),
        [
          [mech, false, 535],
          [mech, true, 235],
        ],
      )
      assert.deepEqual(p.calls, ['initial', 'refresh'])
      await revoke(p.tokens.at(-1))
      const mid = `<node.oauth.send.${mech}.${process.pid}.${Date.now()}@relaykit.test>`
      const r = await relaykit.send(profile(mech), message(mid), { tokenProvider: p.fn })
      assert.deepEqual(r.accepted, [V.RK_RCPT])
      await delivered([mid])
      assert.deepEqual(p.calls, ['initial', 'refresh', 'initial', 'refresh'])
      assertNoToken(p.tokens, [JSON.stringify(report), JSON.stringify(r)])
    }
  })

  test('a provider that throws or rejects: AUTH_FAILED naming the provider, at once', async () => {
    for (const [fn, want] of [
      [
        () => {
          throw new Error('the issuer answered 503')
        },
        /token provider failed to give a token: tokenProvider threw: Error: the issuer answered 503$/,
      ],
      [async () => Promise.reject(new TypeError('no refresh token')), /tokenProvider rejected: TypeError: no refresh token/],
    ]) {
      const start = Date.now()
      const report = await relaykit.test(profile('OAUTHBEARER'), { tokenProvider: fn })
      assert.ok(Date.now() - start < 5000)
      assert.equal(report.ok, false)
      assert.equal(report.error.code, 'AUTH_FAILED')
      assert.equal(report.error.stage, 'auth')
      assert.match(report.error.message, want)
      await assert.rejects(
        relaykit.send(profile('XOAUTH2'), message(`<node.oauth.fail.${Date.now()}@relaykit.test>`), { tokenProvider: fn }),
        (e) => e.code === 'AUTH_FAILED' && want.test(e.message),
      )
    }
  })

  test('a provider returning a non-string names the provider and the type', async () => {
    for (const [bad, what] of [
      [42, 'a number'],
      [undefined, 'undefined'],
      [{ token: 'x' }, 'an object'],
      [Promise.resolve(null), 'null'],
    ]) {
      const report = await relaykit.test(profile('OAUTHBEARER'), { tokenProvider: () => bad })
      assert.equal(report.error.code, 'AUTH_FAILED')
      assert.ok(report.error.message.includes(`tokenProvider returned ${what}, not a string`), report.error.message)
    }
  })

  test('a provider that never answers is bounded by timeoutSecs', async () => {
    const start = Date.now()
    const report = await relaykit.test(profile('OAUTHBEARER', 2), { tokenProvider: () => new Promise(() => {}) })
    const took = Date.now() - start
    assert.ok(took > 1500 && took < 8000, `${took} ms`)
    assert.match(report.error.message, /token provider failed .*no token within 2/)
  })

  test('tokenProvider must be a function', async () => {
    await assert.rejects(relaykit.test(profile('OAUTHBEARER'), { tokenProvider: 'a-token' }), (e) => {
      return e.code === 'CONFIG' && e.message.includes('options.tokenProvider')
    })
  })
})

// The issuer's record names tokens by hash: the revoked one was introspected (judged by Dovecot).
test('the record shows the revoked token judged by the server', { skip }, async () => {
  const t = await issue()
  await revoke(t)
  await relaykit.test(profile('XOAUTH2'), { tokenProvider: () => t })
  const id = createHash('sha256').update(t).digest('hex').slice(0, 12)
  const events = fs
    .readFileSync(V.RK_OAUTH_RECORD, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.token === id)
    .map((e) => e.event)
  assert.ok(events.includes('revoked') && events.includes('introspect'), events.join(','))
})
