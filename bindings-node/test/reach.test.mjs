// #15 "reach" through the Node API: the proxy, proxyPassword and protocol members, and against
// the real servers (roles socks, httpproxy, lmtp, unixsmtp): send through SOCKS5 and HTTP
// CONNECT, a wrong proxy password at stage 'proxy', LMTP over the Unix socket as a partial
// result, SMTP over a Unix socket, each delivery read from its Maildir; the proxy password never
// in an error, a report or util.inspect. Server tests skip, saying so, without servers.env.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'

import { Keyring, Profile, send, test as probe } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers } = require('./servers.js')
const V = loadServers()
const skip = V ? false : `servers not running (${ENV_FILE} is missing; start tests/servers/start.sh)`
const SECRET = 'Pr0xy-Secret-never-shown'

describe('reach: profile members', () => {
  test('proxy, proxyPassword and protocol follow the core', () => {
    const p = new Profile({ server: 'lmtp.example.com', proxy: 'socks5h://relay@proxy.example.com:1080', proxyPassword: 'pr~xy', protocol: 'lmtp' })
    assert.equal(p.proxy, 'socks5h://relay@proxy.example.com:1080')
    assert.equal(p.protocol, 'lmtp')
    assert.equal(p.proxyPasswordEncrypted, false)
    assert.equal(p.toJSON().proxy_password, 'pr~xy')
    p.protocol = 'smtp'
    assert.equal(p.toJSON().protocol, undefined)
    assert.throws(() => { p.protocol = 'esmtp' }, (e) => e.code === 'CONFIG' && e.message.startsWith('$.protocol: '))
    const k = Keyring.fromText('k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=')
    p.encryptProxyPassword(SECRET, k)
    assert.equal(p.proxyPasswordEncrypted, true)
    assert.ok(p.toJSON().proxy_password.startsWith('enc:v1:k1:'))
    p.clearProxyPassword()
    p.validate()
    assert.throws(() => new Profile({ server: 'smtp.example.com', proxy: 'socks5://proxy.example.com' }),
      (e) => e.code === 'CONFIG' && e.message.startsWith('$.proxy: '))
    assert.throws(() => new Profile({ server: 'unix:relative/path' }), (e) => e.code === 'CONFIG' && e.message.startsWith('$.server: '))
    const url = new Profile({ server: 'smtp.example.com', proxy: `http://u:${SECRET}@proxy.example.com:3128` })
    const field = new Profile({ server: 'smtp.example.com', proxy: 'http://u@proxy.example.com:3128', proxyPassword: SECRET })
    for (const x of [url, field]) assert.ok(!inspect(x).includes(SECRET))
    assert.throws(() => new Profile({ server: 'smtp.example.com', proxy: `socks5://u:${SECRET}@h` }),
      (e) => e.code === 'CONFIG' && !e.message.includes(SECRET) && !inspect(e).includes(SECRET))
  })

  test('a socket that does not exist is a CONFIG error naming $.server', async () => {
    await assert.rejects(probe(new Profile({ server: 'unix:/nonexistent/relaykit.sock' })),
      (e) => e.code === 'CONFIG' && e.message.startsWith('$.server: no Unix socket at /nonexistent/relaykit.sock'))
  })
})

const mid = (what) => `<reach-node.${what}.${randomUUID()}@relaykit.test>`
const message = (id, ...to) => ({ from: V.RK_USER, to, subject: `relaykit node reach ${id}`, text: 'sent by bindings-node/test/reach.test.mjs\n', messageId: id })
const alice = (key) => join(V[key], V.RK_DOMAIN, 'alice')

// Polls (bounded) a Maildir's new/ and cur/ for the message carrying `id`.
async function arrived (dir, id) {
  const deadline = Date.now() + 10000
  while (Date.now() < deadline) {
    for (const sub of ['new', 'cur']) {
      let names = []
      try { names = readdirSync(join(dir, sub)) } catch { continue }
      for (const n of names) {
        const text = readFileSync(join(dir, sub, n), 'latin1')
        if (text.includes(id)) return text
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  assert.fail(`${id} did not arrive in ${dir} within 10 s`)
}

const via = (proxy, extra = {}) =>
  new Profile({ server: '127.0.0.1', port: Number(V.RK_DOVECOT_PLAIN_PORT), starttls: 'never', timeoutSecs: 10, proxy, ...extra })

describe('reach: real servers', { skip }, () => {
  test('send through SOCKS5 and HTTP CONNECT; a wrong proxy password fails at stage proxy', async () => {
    const socks = `socks5://${V.RK_SOCKS_USER}@127.0.0.1:${V.RK_SOCKS_PORT}`
    const http = `http://${V.RK_HTTP_PROXY_USER}@127.0.0.1:${V.RK_HTTP_PROXY_AUTH_PORT}`
    for (const [what, p] of [['socks', via(socks, { proxyPassword: V.RK_SOCKS_PASS })], ['http', via(http, { proxyPassword: V.RK_HTTP_PROXY_PASS })]]) {
      const id = mid(what)
      const r = await send(p, message(id, V.RK_USER))
      assert.deepEqual(r.accepted, [V.RK_USER])
      await arrived(alice('RK_DOVECOT_MAIL_DIR'), id)
    }
    const ok = await probe(via(socks.replace('socks5:', 'socks5h:'), { proxyPassword: V.RK_SOCKS_PASS }))
    assert.equal(ok.ok, true)
    assert.deepEqual(ok.stages.slice(0, 2).map((s) => s.name), ['proxy', 'greeting'])
    const report = await probe(via(socks, { proxyPassword: V.RK_SOCKS_BAD_PASS }))
    assert.equal(report.error.code, 'AUTH_FAILED')
    assert.equal(report.error.stage, 'proxy')
    assert.ok(report.error.hint.startsWith('proxy authentication failed'), report.error.hint)
    let thrown
    await assert.rejects(send(via(http, { proxyPassword: V.RK_HTTP_PROXY_BAD_PASS }), message(mid('bad'), V.RK_USER)), (e) => {
      thrown = e
      return e.code === 'AUTH_FAILED' && e.stage === 'proxy'
    })
    const text = JSON.stringify(report) + inspect(report, { depth: 9 }) + inspect(thrown) + JSON.stringify(thrown)
    const basic = Buffer.from(`${V.RK_HTTP_PROXY_USER}:${V.RK_HTTP_PROXY_BAD_PASS}`).toString('base64')
    for (const secret of [V.RK_SOCKS_BAD_PASS, V.RK_HTTP_PROXY_BAD_PASS, basic]) assert.ok(!text.includes(secret))
  })

  test('LMTP over the Unix socket is a partial result; SMTP over a socket delivers', async () => {
    let id = mid('lmtp')
    const p = new Profile({ server: `unix:${V.RK_LMTP_SOCKET}`, protocol: 'lmtp', timeoutSecs: 10 })
    const r = await send(p, message(id, V.RK_USER, V.RK_LMTP_REJECT_RCPT, V.RK_LMTP_FULL_RCPT))
    assert.deepEqual(r.accepted, [V.RK_USER])
    assert.deepEqual(r.rejected.map((x) => [x.address, x.smtpCode]), [[V.RK_LMTP_REJECT_RCPT, 550], [V.RK_LMTP_FULL_RCPT, 552]])
    assert.deepEqual(r.deliveries.map((x) => [x.address, x.smtpCode]), [[V.RK_USER, 250], [V.RK_LMTP_FULL_RCPT, 552]])
    assert.deepEqual(r.toJSON().deliveries[1].code, 552)
    await arrived(alice('RK_LMTP_MAIL_DIR'), id)
    id = mid('unixsmtp')
    const u = await send(new Profile({ server: `unix:${V.RK_SMTP_SOCKET}`, starttls: 'never', timeoutSecs: 10 }), message(id, V.RK_USER))
    assert.deepEqual(u.accepted, [V.RK_USER])
    await arrived(alice('RK_UNIXSMTP_MAIL_DIR'), id)
  })
})
