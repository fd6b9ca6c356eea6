// Mailer: options read by the core at creation, the presented stats, close(), and (against the
// real Postfix+Dovecot listeners, skipped without $RELAYKIT_STATE/servers.env) many concurrent
// sends over a small pool, 1,000 messages in one sendMany with bad ones among them failing
// alone, error fate/transient/attempts, trace lines with their connection id, an idle
// connection closed by Postfix replaced transparently (RK_POSTFIX_IDLE_PORT; skipped, saying
// so, without it), and a process that exits by itself after close().
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
// A plain listener with CRAM-MD5: the 1,000-message run measures the mailer, not TLS.
const plain = (portKey = 'RK_DOVECOT_PLAIN_PORT') =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V[portKey]),
    starttls: 'never',
    requiresAuthentication: true,
    authMechanisms: ['CRAM-MD5'],
    username: V.RK_USER,
    password: V.RK_PASS,
    timeoutSecs: 30,
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
      [{ maxQueued: 0 }, 'options.max_queued'],
      [{ idleTimeoutSecs: -1 }, 'options.idle_timeout_secs'],
      [{ maxConections: 2 }, 'max_conections'],
      [{ retry: { maxAttempts: 0 } }, 'options.retry.max_attempts'],
      [{ rateLimit: { messages: 1 } }, 'options.rate_limit'],
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
    const zero = { sent: 0, failed: 0, retried: 0, reconnects: 0, connectionsOpened: 0, openConnections: 0, queued: 0 }
    assert.deepEqual({ ...m.stats }, zero)
    assert.deepEqual(m.stats.toJSON(), {
      sent: 0,
      failed: 0,
      retried: 0,
      reconnects: 0,
      connections_opened: 0,
      open_connections: 0,
      queued: 0,
    })
  })

  test('send after close rejects at once with a CONFIG error, and close() again resolves', async () => {
    const m = new Mailer(offline())
    assert.equal(await m.close(), undefined)
    const e = await rejectionWithin(m.send({ from: 'a@relaykit.test', to: 'b@relaykit.test', text: 'x' }), 5000)
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /closed/)
    assert.equal(m.stats.failed, 1)
    // sendMany after close resolves: each message's outcome is that error.
    const outcomes = await m.sendMany([{ from: 'a@relaykit.test', to: 'b@relaykit.test', text: 'x' }, { from: 'c@x.test' }])
    assert.equal(outcomes.length, 2)
    for (const o of outcomes) {
      assert.ok(o instanceof Error)
      assert.equal(o.code, 'CONFIG')
      assert.match(o.message, /closed/)
      assert.equal(o.transient, false)
      assert.equal(o.fate, 'rejected')
    }
    assert.deepEqual(await m.sendMany([]), [])
    await m.close()
  })

  test('sendMany of something that is not an array rejects with a CONFIG error', async () => {
    const m = new Mailer(offline())
    const e = await rejectionWithin(m.sendMany({ from: 'a@relaykit.test' }), 5000)
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /^messages: expected an array/)
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

/** This process's sockets ESTABLISHED to 127.0.0.1:`port` (/proc/net/tcp; Linux, as the servers). */
function myEstablished(port) {
  const inodes = new Set()
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let link
    try {
      link = fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue // closed meanwhile
    }
    if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
  }
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  return fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[2] === remote && f[3] === '01' && inodes.has(f[9])).length
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

  test('1,000 messages in one sendMany, bad ones failing alone: each good one delivered once', async () => {
    const tag = `${process.pid}.${randomUUID()}`
    const prefix = `<node-many.${tag}.`
    const [injected, malformed] = [500, 700]
    const ids = Array.from({ length: 1000 }, (_, i) => `${prefix}${i}@relaykit.test>`)
    const batch = ids.map((id, i) => {
      if (i === injected) return message(id, { subject: 'x\r\nBcc: victim@example.net' })
      if (i === malformed) return { ...message(id), bogusKey: 1 } // not a message: fails alone too
      return message(id)
    })
    const m = new Mailer(plain(), { maxConnections: 2 })
    const outcomes = await m.sendMany(batch)
    assert.equal(outcomes.length, ids.length)
    assert.ok(outcomes[injected] instanceof Error)
    assert.equal(outcomes[injected].code, 'CONFIG')
    assert.match(outcomes[injected].message, /^message\.subject:/)
    assert.equal(outcomes[injected].fate, 'rejected')
    assert.equal(outcomes[malformed].code, 'CONFIG')
    assert.match(outcomes[malformed].message, /bogus_key/)
    const good = ids.filter((_, i) => i !== injected && i !== malformed)
    const sent = outcomes.filter((_, i) => i !== injected && i !== malformed)
    assert.deepEqual(
      sent.filter((o) => o instanceof Error).map((e) => e.message).slice(0, 3),
      [],
      'every good message is sent',
    )
    assert.deepEqual(
      sent.map((r) => r.messageId),
      good,
    )
    assert.ok(sent.every((r) => r.attempts >= 1 && r.accepted[0] === V.RK_RCPT))
    // The malformed one never reached the mailer: only the injection counts as failed there.
    assert.deepEqual({ sent: m.stats.sent, failed: m.stats.failed, queued: m.stats.queued }, { sent: 998, failed: 1, queued: 0 })
    await m.close()

    const carol = path.join(V.RK_DOVECOT_MAIL_DIR, V.RK_DOMAIN, V.RK_RCPT.split('@')[0])
    const counts = await countDelivered(carol, prefix, good.length)
    assert.equal(counts.size, good.length)
    for (const id of good) assert.equal(counts.get(id.slice(0, -1)), 1, id)
  })

  test('a refusal is final: transient false, fate rejected, one attempt', async () => {
    const m = new Mailer(starttls())
    const refused = { from: V.RK_USER, to: V.RK_REJECT_RCPT, subject: 'refused', text: 'x\n' }
    const e = await rejectionWithin(m.send(refused), 30000)
    assert.equal(e.code, 'RECIPIENT_REJECTED')
    assert.ok(e.smtpCode >= 500 && e.smtpCode < 600, String(e.smtpCode))
    assert.deepEqual([e.transient, e.fate, e.attempts], [false, 'rejected', 1])
    const [o] = await m.sendMany([refused])
    assert.deepEqual(o.toJSON(), e.toJSON())
    assert.equal(m.stats.retried, 0)
    await m.close()
  })

  test('trace lines carry their connection id', async () => {
    const lines = []
    const m = new Mailer(starttls(), { maxConnections: 1, trace: (d, line, connection) => lines.push([d, connection]) })
    await m.send(message(`<node-trace.${randomUUID()}@relaykit.test>`))
    await m.close()
    assert.ok(lines.length > 5, String(lines.length))
    assert.deepEqual([...new Set(lines.map(([, c]) => c))], [1])
    assert.deepEqual(new Set(lines.map(([d]) => d)), new Set(['C', 'S']))
  })

  test('an idle connection closed by Postfix is replaced transparently', async (t) => {
    if (!V.RK_POSTFIX_IDLE_PORT) {
      t.skip(`RK_POSTFIX_IDLE_PORT is not in ${ENV_FILE} (the dovecot role's idle listener)`)
      return
    }
    const port = Number(V.RK_POSTFIX_IDLE_PORT)
    const prefix = `<node-idle.${process.pid}.${randomUUID()}.`
    // The mailer's own idle timeout is far longer than Postfix's: the server closes first.
    const m = new Mailer(plain('RK_POSTFIX_IDLE_PORT'), { maxConnections: 1, idleTimeoutSecs: 300 })
    await m.send(message(`${prefix}0@relaykit.test>`))
    assert.equal(myEstablished(port), 1, 'the connection is pooled, open')
    // Bounded: smtpd_timeout plus slack for a loaded machine.
    const deadline = Date.now() + (Number(V.RK_POSTFIX_IDLE_SECS) + 15) * 1000
    while (myEstablished(port) > 0) {
      assert.ok(Date.now() < deadline, 'Postfix did not close the idle connection in time')
      await new Promise((resolve) => setTimeout(resolve, 50)) // polling the socket's state
    }
    await m.send(message(`${prefix}1@relaykit.test>`))
    const s = m.stats
    assert.deepEqual([s.sent, s.failed, s.reconnects, s.connectionsOpened], [2, 0, 1, 2], JSON.stringify(s))
    await m.close()
    const carol = path.join(V.RK_DOVECOT_MAIL_DIR, V.RK_DOMAIN, V.RK_RCPT.split('@')[0])
    const counts = await countDelivered(carol, prefix, 2)
    assert.deepEqual([...counts.values()], [1, 1])
  })

  test('a process that sends one message and closes exits by itself', async () => {
    const script = `
      const { Mailer, Profile } = require(${JSON.stringify(ADDON)})
      const p = new Profile(JSON.parse(process.env.PROFILE))
      const m = new Mailer(p, { trace: () => {} })
      const msg = { from: process.env.FROM, to: process.env.TO, subject: 'exit test', text: 'x\\n' }
      m.send(msg)
        .then((r) => { console.log(JSON.stringify(r.accepted)); return m.sendMany([msg, msg]) })
        .then((rs) => { console.log(rs.length); return m.close() })
        .then(() => console.log('closed'))
    `
    const profile = { ...starttls().toJSON() }
    // Bounded: a process kept alive by the mailer is killed at the timeout, failing the test.
    const { stdout } = await run(process.execPath, ['-e', script], {
      timeout: 30000,
      env: { ...process.env, PROFILE: JSON.stringify(profile), FROM: V.RK_USER, TO: V.RK_RCPT },
    })
    assert.equal(stdout, `${JSON.stringify([V.RK_RCPT])}\n2\nclosed\n`)
  })
})
