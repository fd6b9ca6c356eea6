// Mailer: options read by the core at creation, the presented stats, close(), and (against the
// real Postfix+Dovecot STARTTLS listener, skipped without $RELAYKIT_STATE/servers.env) many
// concurrent sends over a small pool, a bad message failing alone, and a process that exits by
// itself after close().
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

import { Keyring, Mailer, Profile } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers } = require('./servers.js')
const run = promisify(execFile)
const ADDON = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'index.js')

const V = loadServers()
const skip = V ? false : `servers not running (${ENV_FILE} is missing; start tests/servers/start.sh)`

const starttls = () =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_DOVECOT_STARTTLS_PORT),
    encryptedConnection: true,
    tlsMode: 'starttls',
    tlsCaFile: V.RK_CA_FILE,
    requiresAuthentication: true,
    username: V.RK_USER,
    password: V.RK_PASS,
    timeoutSecs: 10,
  })
// Never connected to: the tests that use it open no connection.
const offline = () => new Profile({ server: 'mx.relaykit.invalid' })

/** The error `fn()` throws, failing the test if it returns. */
function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  return assert.fail('expected an exception')
}

/** The rejection of `promise` within `ms`, failing the test if it resolves or takes longer. */
async function rejectionWithin(promise, ms) {
  let timer
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([promise, late])
  } catch (e) {
    if (e.message === `not settled within ${ms} ms`) throw e
    return e
  } finally {
    clearTimeout(timer)
  }
  return assert.fail('expected the Promise to reject')
}

describe('new Mailer()', () => {
  test('bad options throw a CONFIG error naming options.<key>, at creation', () => {
    for (const [options, key] of [
      [{ maxConnections: 0 }, 'options.max_connections'],
      [{ maxMessagesPerConnection: 0 }, 'options.max_messages_per_connection'],
      [{ idleTimeoutSecs: -1 }, 'options.idle_timeout_secs'],
      [{ maxConections: 2 }, 'max_conections'],
      [{ keyring: 'not a keyring' }, 'options.keyring'],
    ]) {
      const e = thrown(() => new Mailer(offline(), options))
      assert.equal(e.code, 'CONFIG', JSON.stringify(options))
      assert.match(e.message, new RegExp(key), JSON.stringify(options))
    }
  })

  test('a bad profile throws at creation, naming the field', () => {
    const e = thrown(() => new Mailer(new Profile({ server: 'mx.relaykit.test', port: 0 })))
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /port/)
  })

  test('stats are presented like the other results: camelCase, toJSON() the core JSON', () => {
    const m = new Mailer(offline(), { maxConnections: 3, keyring: new Keyring(), trace: null })
    assert.deepEqual({ ...m.stats }, { sent: 0, failed: 0, reconnects: 0, connectionsOpened: 0, openConnections: 0 })
    assert.deepEqual(m.stats.toJSON(), { sent: 0, failed: 0, reconnects: 0, connections_opened: 0, open_connections: 0 })
  })

  test('send after close rejects at once with a CONFIG error, and close() again resolves', async () => {
    const m = new Mailer(offline())
    assert.equal(await m.close(), undefined)
    const e = await rejectionWithin(m.send({ from: 'a@relaykit.test', to: 'b@relaykit.test', text: 'x' }), 5000)
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /closed/)
    assert.equal(m.stats.failed, 1)
    await m.close()
  })
})

/** Per Message-ID starting with `prefix`, how many files under the Maildir carry it, polling
 * until `want` distinct ones are there or `timeoutMs` passes. */
async function countDelivered(maildir, prefix, want, timeoutMs = 120000) {
  const counts = new Map()
  const seen = new Set()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const sub of ['new', 'cur']) {
      const dir = path.join(maildir, sub)
      for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
        const file = path.join(dir, f)
        if (seen.has(file)) continue
        let text
        try {
          text = fs.readFileSync(file, 'latin1')
        } catch {
          continue // moved from new/ to cur/ meanwhile: found again there
        }
        seen.add(file)
        const at = text.indexOf(prefix)
        if (at >= 0) {
          const id = text.slice(at).split('>')[0]
          counts.set(id, (counts.get(id) ?? 0) + 1)
        }
      }
    }
    if (counts.size >= want || Date.now() > deadline) return counts
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('Mailer against Postfix+Dovecot', { skip }, () => {
  const message = (mid, extra = {}) => ({
    from: V.RK_USER,
    to: V.RK_RCPT,
    subject: `node mailer test ${mid}`,
    text: 'sent through a pooled relaykit Mailer\n',
    messageId: mid,
    ...extra,
  })

  test('200 concurrent sends over at most 2 connections: each delivered exactly once', async () => {
    const tag = `${process.pid}.${randomUUID()}`
    const prefix = `<node-mailer.${tag}.`
    // Enough messages per connection that the pool never replaces one: then every connection
    // ever opened counts against the limit.
    const m = new Mailer(starttls(), { maxConnections: 2, maxMessagesPerConnection: 1000 })
    const ids = Array.from({ length: 200 }, (_, i) => `${prefix}${i}@relaykit.test>`)
    const results = await Promise.all(ids.map((id) => m.send(message(id))))
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r.accepted, [V.RK_RCPT])
      assert.equal(r.messageId, ids[i])
    }
    const stats = m.stats
    assert.equal(stats.sent, 200)
    assert.equal(stats.failed, 0)
    assert.ok(stats.connectionsOpened >= 1 && stats.connectionsOpened <= 2, JSON.stringify(stats))
    await m.close()
    assert.equal(m.stats.openConnections, 0)

    const carol = path.join(V.RK_DOVECOT_MAIL_DIR, V.RK_DOMAIN, V.RK_RCPT.split('@')[0])
    const counts = await countDelivered(carol, prefix, ids.length)
    assert.equal(counts.size, ids.length)
    for (const id of ids) assert.equal(counts.get(id.slice(0, -1)), 1, id)
  })

  test('a subject with CR/LF fails alone; a good message on the same mailer is sent', async () => {
    const m = new Mailer(starttls(), { maxConnections: 1 })
    const bad = m.send(message(`<bad.${randomUUID()}@relaykit.test>`, { subject: 'x\r\nBcc: evil@example.net' }))
    const good = m.send(message(`<good.${randomUUID()}@relaykit.test>`))
    const [b, g] = await Promise.allSettled([bad, good])
    assert.equal(b.status, 'rejected')
    assert.equal(b.reason.code, 'CONFIG')
    assert.match(b.reason.message, /subject/)
    assert.equal(g.status, 'fulfilled', String(g.reason))
    assert.deepEqual(g.value.accepted, [V.RK_RCPT])
    assert.deepEqual({ sent: m.stats.sent, failed: m.stats.failed }, { sent: 1, failed: 1 })
    await m.close()
    const e = await rejectionWithin(m.send(message(`<late.${randomUUID()}@relaykit.test>`)), 5000)
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /closed/)
  })

  test('a process that sends one message and closes exits by itself', async () => {
    const script = `
      const { Mailer, Profile } = require(${JSON.stringify(ADDON)})
      const p = new Profile(JSON.parse(process.env.PROFILE))
      const m = new Mailer(p, { trace: () => {} })
      m.send({ from: process.env.FROM, to: process.env.TO, subject: 'exit test', text: 'x\\n' })
        .then((r) => { console.log(JSON.stringify(r.accepted)); return m.close() })
        .then(() => console.log('closed'))
    `
    const profile = { ...starttls().toJSON() }
    // Bounded: a process kept alive by the mailer is killed at the timeout, failing the test.
    const { stdout } = await run(process.execPath, ['-e', script], {
      timeout: 30000,
      env: { ...process.env, PROFILE: JSON.stringify(profile), FROM: V.RK_USER, TO: V.RK_RCPT },
    })
    assert.equal(stdout, `${JSON.stringify([V.RK_RCPT])}\nclosed\n`)
  })
})
