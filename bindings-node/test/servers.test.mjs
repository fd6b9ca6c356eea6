// test() and send() against the real servers tests/servers/ starts (variables from
// $RELAYKIT_STATE/servers.env). Skipped, saying so, when the servers are not running.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'

import * as relaykit from 'relaykit'
import { Keyring, Profile, RrtContext, encryptPassword, send, prepareMessage } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers, aiosmtpdSeq, aiosmtpdFind } = require('./servers.js')
const run = promisify(execFile)

const V = loadServers()
const skip = V ? false : `servers not running (${ENV_FILE} is missing; start tests/servers/start.sh)`

const starttls = (extra = {}) =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_DOVECOT_STARTTLS_PORT),
    encryptedConnection: true,
    tlsCaFile: V.RK_CA_FILE,
    requiresAuthentication: true,
    username: V.RK_USER,
    password: V.RK_PASS,
    ...extra,
  })
const aiosmtpd = (extra = {}) =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_AIOSMTPD_PORT),
    requiresAuthentication: true,
    allowPlaintextPassword: true,
    authMechanisms: ['PLAIN'],
    username: V.RK_USER,
    password: V.RK_PASS,
    ...extra,
  })
// Implicit TLS without the test CA: the server's certificate does not verify.
const implicitNoCa = () =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_DOVECOT_IMPLICIT_PORT),
    encryptedConnection: true,
    tlsMode: 'implicit',
    timeoutSecs: 10,
  })
const uniqueId = () => `<${randomUUID()}@node.relaykit.test>`

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  return assert.fail('expected the Promise to reject')
}

/** Every secret form of a password that must never show in a trace: the text and base64 of it
 * alone and in a PLAIN/LOGIN payload. */
function secretForms(user, pass) {
  const b64 = (s) => Buffer.from(s, 'utf8').toString('base64')
  return [pass, b64(pass), b64(`\0${user}\0${pass}`), b64(`${user}\0${user}\0${pass}`)]
}

describe('test()', { skip }, () => {
  test('a passing report over STARTTLS has every §8 field, in camelCase', async () => {
    const lines = []
    const report = await relaykit.test(starttls(), {
      relayCheck: { from: V.RK_USER, to: V.RK_RCPT },
      trace: (direction, line) => lines.push([direction, line]),
    })
    assert.equal(report.ok, true, JSON.stringify(report.error))
    assert.equal(report.error, null)
    assert.deepEqual(Object.keys(report), ['ok', 'stages', 'server', 'tls', 'auth', 'relay', 'warnings', 'error'])
    const names = report.stages.map((s) => s.name)
    for (const n of ['connect', 'greeting', 'ehlo', 'tls', 'auth', 'mail_from', 'rcpt_to', 'rset', 'quit']) {
      assert.ok(names.includes(n), `stage ${n} in ${names}`)
    }
    assert.ok(names.indexOf('tls') < names.indexOf('auth'))
    for (const s of report.stages) {
      assert.equal(s.ok, true)
      assert.equal(typeof s.ms, 'number')
      assert.ok(s.ms >= 0)
    }
    assert.match(report.server.banner, /ESMTP/)
    assert.ok(report.server.extensions.some((e) => e.startsWith('SIZE ')))
    assert.equal(typeof report.server.sizeLimit, 'number')
    assert.ok(report.server.sizeLimit > 0)
    assert.deepEqual(report.server.authMechanisms, V.RK_DOVECOT_MECHS.split(','))
    assert.match(report.tls.version, /^TLSv1\.[23]$/)
    assert.ok(report.tls.cipher.length > 0)
    assert.match(report.tls.subject, /CN=localhost/)
    assert.match(report.tls.issuer, /relaykit test CA/)
    assert.match(report.tls.notAfter, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.equal(report.tls.verified, true)
    assert.equal('verifyError' in report.tls, false) // absent, as §8 writes it
    assert.equal(report.auth.mechanism, 'SCRAM-SHA-256')
    assert.deepEqual(report.auth.attempts, [{ mechanism: 'SCRAM-SHA-256', ok: true, smtpCode: 235 }])
    assert.deepEqual(report.relay, { from: V.RK_USER, to: V.RK_RCPT, ok: true, reply: report.relay.reply })
    assert.match(report.relay.reply, /^250/)
    assert.deepEqual(report.warnings, [])

    // The trace: both directions, in order, complete when the Promise resolved.
    assert.deepEqual(lines[0][0], 'S')
    assert.ok(lines.some(([d, l]) => d === 'C' && l.startsWith('EHLO ')))
    assert.ok(lines.some(([d, l]) => d === 'C' && l === 'STARTTLS'))
    assert.deepEqual(lines.at(-2), ['C', 'QUIT'])
    assert.equal(lines.at(-1)[0], 'S')
    assert.match(lines.at(-1)[1], /^221/)
  })

  test('toJSON() gives the exact §8 snake_case JSON, and JSON.stringify uses it', async () => {
    const report = await relaykit.test(starttls())
    const json = report.toJSON()
    assert.deepEqual(JSON.parse(JSON.stringify(report)), json)
    assert.equal(json.server.size_limit, report.server.sizeLimit)
    assert.deepEqual(json.server.auth_mechanisms, report.server.authMechanisms)
    assert.equal(json.tls.not_after, report.tls.notAfter)
    assert.equal('verify_error' in json.tls, false) // absent, as §8 writes it
    assert.equal(json.auth.attempts[0].code, 235)
    assert.equal('relay' in json, false)
    assert.deepEqual(Object.keys(json), ['ok', 'stages', 'server', 'tls', 'auth', 'warnings', 'error'])
    // Not enumerable: the report stays a plain-looking object.
    assert.equal(Object.keys(report).includes('toJSON'), false)
    assert.equal('toJSON' in { ...report }, false)
  })

  test('a wrong password is in the report: ok false, AUTH_FAILED at auth with 535 and a hint', async () => {
    const lines = []
    const report = await relaykit.test(starttls({ password: V.RK_BAD_PASS }), {
      trace: (direction, line) => lines.push(`${direction} ${line}`),
    })
    assert.equal(report.ok, false)
    const e = report.error
    assert.equal(e.code, 'AUTH_FAILED')
    assert.equal(e.kind, 'auth_failed')
    assert.equal(e.stage, 'auth')
    assert.equal(e.smtpCode, 535)
    assert.equal(e.enhancedCode, '5.7.8')
    assert.match(e.message, /: server replied 535 5\.7\.8 .*authentication failed/)
    assert.equal('smtpText' in e, false, 'the report holds the §8 error: its message carries the reply')
    assert.ok(e.hint && e.hint.length > 0)
    assert.equal(report.stages.find((s) => s.name === 'auth').ok, false)
    assert.ok(report.auth.attempts.length >= 1)
    assert.equal(report.auth.attempts.at(-1).smtpCode, 535)
    assert.deepEqual(report.toJSON().error, {
      kind: 'auth_failed',
      stage: 'auth',
      code: 535,
      enhanced_code: '5.7.8',
      message: e.message,
      hint: e.hint,
      transient: false,
      fate: 'rejected',
    })
    const trace = lines.join('\n')
    for (const secret of secretForms(V.RK_USER, V.RK_BAD_PASS)) assert.equal(trace.includes(secret), false)
  })

  test('the trace never shows the password, for every mechanism dovecot offers', async () => {
    for (const mech of V.RK_DOVECOT_MECHS.split(',')) {
      const lines = []
      const report = await relaykit.test(
        starttls({ authMechanisms: [mech], username: V.RK_USER2, password: V.RK_PASS2 }),
        { trace: (direction, line) => lines.push(`${direction} ${line}`) },
      )
      assert.equal(report.ok, true, `${mech}: ${JSON.stringify(report.error)}`)
      assert.equal(report.auth.mechanism, mech)
      const trace = lines.join('\n')
      assert.match(trace, new RegExp(`^C AUTH ${mech}`, 'm'))
      for (const secret of secretForms(V.RK_USER2, V.RK_PASS2)) {
        assert.equal(trace.includes(secret), false, `${mech} trace shows a secret form`)
      }
    }
  })

  test('an encrypted password is decrypted with options.keyring; without it the Promise rejects', async () => {
    const keyring = Keyring.generate()
    const profile = starttls()
    encryptPassword(profile, V.RK_PASS, keyring)
    const report = await relaykit.test(profile, { keyring })
    assert.equal(report.ok, true, JSON.stringify(report.error))
    const e = await rejection(relaykit.test(profile))
    assert.equal(e.code, 'CRYPTO')
  })

  test('RRTs in the profile expand from options.context', async () => {
    const context = new RrtContext()
    context.set('APP', 'user', V.RK_USER)
    context.setRestricted('APP', 'pass', V.RK_PASS)
    const report = await relaykit.test(starttls({ username: '~APP::%user%~', password: '~APP::%@pass%~' }), { context })
    assert.equal(report.ok, true, JSON.stringify(report.error))
  })

  test('implicit TLS with the wrong CA is a TLS failure in the report, with a hint', async () => {
    const report = await relaykit.test(
      implicitNoCa(),
    )
    assert.equal(report.ok, false)
    assert.equal(report.error.code, 'TLS')
    assert.equal(report.error.stage, 'tls')
  })

  test('invalid options reject with CONFIG naming the option', async () => {
    let e = await rejection(relaykit.test(starttls(), { relay: true }))
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /^options\.relay: unknown field `relay`/)
    e = await rejection(relaykit.test(starttls(), { keyring: 'not a keyring' }))
    assert.equal(e.code, 'CONFIG')
    assert.match(e.message, /options\.keyring/)
    e = await rejection(relaykit.test(starttls(), { relayCheck: { from: V.RK_USER } }))
    assert.equal(e.code, 'CONFIG')
    e = await rejection(relaykit.test(starttls(), { trace: 'console.log' }))
    assert.equal(e.code, 'CONFIG')
  })
})

describe('send()', { skip }, () => {
  test('a message arrives at aiosmtpd byte for byte as prepared, with its envelope', async () => {
    const since = aiosmtpdSeq(V)
    const messageId = uniqueId()
    const attachment = Buffer.from([0, 1, 2, 253, 254, 255, 13, 10, 46, 46])
    const message = {
      from: `Alice <${V.RK_USER}>`,
      to: [V.RK_RCPT, V.RK_REJECT_RCPT],
      cc: `Carol <${V.RK_RCPT.replace('@', '+cc@')}>`,
      bcc: [V.RK_RCPT.replace('@', '+bcc@')],
      replyTo: 'replies@relaykit.test',
      subject: 'node send ✓',
      text: 'Hello from Node.\n.a line starting with a dot\n',
      html: '<p>Hello <img src="cid:logo"></p>',
      attachments: [{ filename: 'data.bin', contentType: 'application/octet-stream', content: attachment }],
      inline: [{ contentId: 'logo', contentType: 'image/png', content: Buffer.from('PNGDATA') }],
      headers: [['X-Relaykit-Test', 'node']],
      messageId,
    }
    const result = await send(aiosmtpd(), message)
    assert.deepEqual(result.accepted, [V.RK_RCPT, V.RK_RCPT.replace('@', '+cc@'), V.RK_RCPT.replace('@', '+bcc@')])
    assert.equal(result.rejected.length, 1)
    assert.equal(result.rejected[0].address, V.RK_REJECT_RCPT)
    assert.equal(result.rejected[0].smtpCode, 550)
    assert.equal(result.rejected[0].enhancedCode, '5.1.1')
    assert.equal(result.messageId, messageId)
    assert.match(result.reply, /^250/)
    assert.deepEqual(result.toJSON().rejected[0].code, 550)
    assert.deepEqual(JSON.parse(JSON.stringify(result)), result.toJSON())

    const found = await aiosmtpdFind(V, since, [messageId])
    assert.ok(found.has(messageId), 'the message arrived')
    const { meta, eml } = found.get(messageId)
    assert.equal(meta.mail_from, V.RK_USER)
    assert.deepEqual(meta.rcpt_tos, result.accepted)
    assert.equal(meta.auth_user, V.RK_USER)
    const text = eml.toString('utf8')
    assert.doesNotMatch(text, /^Bcc:/im)
    assert.match(text, /^X-Relaykit-Test: node\r$/m)
    assert.match(text, /^Reply-To: replies@relaykit\.test\r$/m)
    assert.match(text, /^\.a line starting with a dot\r$/m) // dot-stuffed on the wire, unstuffed on arrival
    assert.ok(text.includes(attachment.toString('base64')))
    assert.ok(text.includes('Content-ID: <logo>'))
    assert.ok(!/[^\r]\n/.test(text), 'CRLF line ends only')
    // The bytes match prepareMessage's apart from the Date and the MIME boundaries it makes fresh.
    const prepared = prepareMessage(message).bytes.toString('utf8')
    const normalize = (s) => {
      const boundaries = [...s.matchAll(/boundary="([^"]+)"/g)].map((m) => m[1])
      let out = s.replace(/^Date: .*\r$/m, 'Date: -')
      boundaries.forEach((b, i) => (out = out.split(b).join(`BOUNDARY${i}`)))
      return out
    }
    assert.equal(normalize(text), normalize(prepared))
  })

  test('raw bytes are sent exactly as given, to the envelope from/to', async () => {
    const since = aiosmtpdSeq(V)
    const messageId = uniqueId()
    const raw = Buffer.from(
      `From: ${V.RK_USER}\r\nTo: someone@relaykit.test\r\nSubject: raw\r\nMessage-ID: ${messageId}\r\n\r\nraw body \xe9\r\n..two dots\r\n`,
      'latin1',
    )
    const result = await send(aiosmtpd(), { from: V.RK_USER, to: V.RK_RCPT, raw })
    assert.deepEqual(result.accepted, [V.RK_RCPT])
    const found = await aiosmtpdFind(V, since, [messageId])
    assert.ok(found.has(messageId))
    assert.deepEqual(found.get(messageId).meta.rcpt_tos, [V.RK_RCPT])
    assert.ok(found.get(messageId).eml.equals(raw), 'the exact bytes arrived')
  })

  test('a wrong password rejects with AUTH_FAILED, smtpCode 535, stage auth and a hint', async () => {
    const e = await rejection(
      send(starttls({ password: V.RK_BAD_PASS }), { from: V.RK_USER, to: V.RK_RCPT, subject: 's', text: 't' }),
    )
    assert.ok(e instanceof Error)
    assert.equal(e.code, 'AUTH_FAILED')
    assert.equal(e.kind, 'auth_failed')
    assert.equal(e.stage, 'auth')
    assert.equal(e.smtpCode, 535)
    assert.equal(e.enhancedCode, '5.7.8')
    assert.match(e.smtpText, /authentication failed/)
    assert.ok(e.hint && e.hint.length > 0)
    assert.equal(e.message.includes(V.RK_BAD_PASS), false)
    assert.deepEqual(e.toJSON(), {
      kind: 'auth_failed',
      stage: 'auth',
      code: 535,
      enhanced_code: '5.7.8',
      message: e.toJSON().message,
      hint: e.hint,
      transient: false,
      fate: 'rejected',
    })
    assert.deepEqual([e.transient, e.fate, e.attempts], [false, 'rejected', undefined])
    assert.equal(e.message, e.toJSON().message)
    assert.match(e.message, /535 5\.7\.8/)
  })

  test('an untrusted certificate rejects with TLS', async () => {
    const e = await rejection(
      send(implicitNoCa(), {
        from: V.RK_USER,
        to: V.RK_RCPT,
        text: 't',
      }),
    )
    assert.equal(e.code, 'TLS')
    assert.equal(e.stage, 'tls')
    assert.equal(e.smtpCode, undefined)
  })

  test('a closed port rejects with CONNECT', async () => {
    // Port 1 (tcpmux) on loopback: nothing listens there on the test machines.
    const e = await rejection(
      send(new Profile({ server: '127.0.0.1', port: 1, timeoutSecs: 5 }), { from: V.RK_USER, to: V.RK_RCPT, text: 't' }),
    )
    assert.equal(e.code, 'CONNECT')
    assert.equal(e.stage, 'connect')
    assert.ok(e.hint === undefined || typeof e.hint === 'string')
  })

  test('a refused recipient alone rejects with RECIPIENT_REJECTED and the reply', async () => {
    const e = await rejection(send(aiosmtpd(), { from: V.RK_USER, to: V.RK_REJECT_RCPT, text: 't' }))
    assert.equal(e.code, 'RECIPIENT_REJECTED')
    assert.equal(e.stage, 'rcpt_to')
    assert.equal(e.smtpCode, 550)
  })

  test('header injection rejects with CONFIG before connecting', async () => {
    const e = await rejection(send(aiosmtpd(), { from: V.RK_USER, to: V.RK_RCPT, subject: 'a\r\nBcc: x@y.z' }))
    assert.equal(e.code, 'CONFIG')
  })

  test('100 concurrent sends all arrive while a timer keeps firing on the event loop', async () => {
    const profile = aiosmtpd()
    const since = aiosmtpdSeq(V)
    const ids = Array.from({ length: 100 }, uniqueId)
    const INTERVAL = 5
    let last = performance.now()
    let maxGap = 0
    let ticks = 0
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      ticks += 1
    }, INTERVAL)
    const started = performance.now()
    let results
    try {
      results = await Promise.all(
        ids.map((messageId, i) =>
          send(profile, { from: V.RK_USER, to: V.RK_RCPT, subject: `concurrent ${i}`, text: `n ${i}`, messageId }),
        ),
      )
    } finally {
      clearInterval(timer)
    }
    const elapsed = performance.now() - started
    assert.equal(results.length, 100)
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r.accepted, [V.RK_RCPT])
      assert.equal(r.messageId, ids[i])
    }
    // The event loop stayed free: no gap between ticks near the whole run's length, and the
    // timer fired regularly throughout.
    assert.ok(maxGap < 250, `max gap between ticks ${maxGap.toFixed(1)} ms (run took ${elapsed.toFixed(0)} ms)`)
    assert.ok(ticks >= Math.floor(elapsed / INTERVAL / 4), `${ticks} ticks in ${elapsed.toFixed(0)} ms`)
    const found = await aiosmtpdFind(V, since, ids, 20000)
    assert.equal(found.size, 100, 'all 100 arrived')
  })
})

describe('module formats', { skip }, () => {
  const script = (load) => `
    const { Profile, test } = ${load};
    const p = new Profile({ server: ${JSON.stringify(V?.RK_HOST)}, port: ${Number(V?.RK_AIOSMTPD_PORT)},
      requiresAuthentication: true, allowPlaintextPassword: true,
      username: process.env.U, password: process.env.P });
    test(p).then((r) => console.log(JSON.stringify({ ok: r.ok, mech: r.auth.mechanism })));`
  const env = () => ({ ...process.env, U: V.RK_USER, P: V.RK_PASS })

  test('CommonJS: require("relaykit")', async () => {
    const { stdout } = await run(process.execPath, ['-e', script("require('relaykit')")], {
      cwd: new URL('..', import.meta.url),
      env: env(),
      timeout: 30000,
    })
    assert.equal(JSON.parse(stdout).ok, true)
  })

  test('ESM: import from "relaykit"', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', script("await import('relaykit')")],
      { cwd: new URL('..', import.meta.url), env: env(), timeout: 30000 },
    )
    assert.equal(JSON.parse(stdout).ok, true)
  })

  test('a trace function that throws is an uncaught exception, as from a listener', async () => {
    const code = `${script("require('relaykit')").replace('test(p)', "test(p, { trace: () => { throw new Error('trace boom') } })")}`
    const e = await run(process.execPath, ['-e', code], {
      cwd: new URL('..', import.meta.url),
      env: env(),
      timeout: 30000,
    }).then(() => assert.fail('expected the process to fail'), (err) => err)
    assert.equal(e.code, 1)
    assert.match(e.stderr, /trace boom/)
  })
})
