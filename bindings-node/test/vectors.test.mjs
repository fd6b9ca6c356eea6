// Runs the shared conformance vectors (tests/conformance/vectors/*.json) against the Node
// binding. The Rust, C and Python runners read the same files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { Keyring, Profile, RrtContext, prepareMessage } from 'relaykit'

const dir = fileURLToPath(new URL('../../tests/conformance/vectors/', import.meta.url))
const vectors = (name) => JSON.parse(readFileSync(dir + name, 'utf8')).tests

function checkError(t, err) {
  const exp = t.expected
  assert.ok(err instanceof Error, `${t.id}: not an Error`)
  assert.equal(err.kind, exp.kind, `${t.id}: ${err.message}`)
  assert.equal(err.code, exp.kind.toUpperCase(), t.id)
  // err.message is the core's Error::message(): the detail, naming the path.
  const message = err.message
  if (exp.path) assert.ok(message.startsWith(`${exp.path}: `), `${t.id}: ${message} should name ${exp.path}`)
  for (const w of exp.message_contains ?? []) assert.ok(message.includes(w), `${t.id}: ${message} should contain ${w}`)
}

function thrown(t, fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  assert.fail(`${t.id}: expected an error`)
}

test('profile vectors', () => {
  const tests = vectors('profile.json')
  assert.ok(tests.length >= 20)
  for (const t of tests) {
    const text = t.input_text ?? JSON.stringify(t.input)
    const exp = t.expected
    if (exp.result === 'valid') {
      const p = Profile.fromJSON(text)
      assert.equal(p.effectivePort, exp.effective_port, t.id)
      if (exp.json) assert.deepEqual(p.toJSON(), exp.json, t.id)
      // Whatever the profile writes, it reads back unchanged, as text and as an object.
      assert.deepEqual(Profile.fromJSON(JSON.stringify(p)).toJSON(), p.toJSON(), `${t.id}: round trip`)
      assert.deepEqual(Profile.fromJSON(p.toJSON()).toJSON(), p.toJSON(), `${t.id}: round trip`)
    } else {
      assert.equal(exp.result, 'invalid', t.id)
      checkError(t, thrown(t, () => Profile.fromJSON(text)))
    }
  }
})

test('rrt vectors', () => {
  const tests = vectors('rrt.json')
  assert.ok(tests.length >= 25)
  for (const t of tests) {
    const input = t.input
    const ctx = new RrtContext({ environment: input.env ?? {}, missing: input.missing ?? 'error' })
    for (const v of input.values ?? []) {
      const set = { plain: 'set', protected: 'setProtected', restricted: 'setRestricted' }[v.kind]
      assert.ok(set, `${t.id}: kind ${v.kind}`)
      ctx[set](v.id, v.name, v.value)
    }
    const exp = t.expected
    if (exp.result === 'ok') {
      assert.equal(ctx.expand(input.value, input.field), exp.value, t.id)
    } else {
      assert.equal(exp.result, 'error', t.id)
      checkError(t, thrown(t, () => ctx.expand(input.value, input.field)))
    }
  }
})

test('secret vectors', () => {
  const tests = vectors('secret.json')
  assert.ok(tests.length >= 15)
  for (const t of tests) {
    const exp = t.expected
    const run = () => {
      const k = t.keys === '' ? new Keyring() : Keyring.fromText(t.keys)
      const field = t.field ?? 'password'
      switch (t.action) {
        case 'encrypt':
          return { envelope: k._encryptWithNonce(t.plaintext, field, t.profile_id, Buffer.from(t.nonce, 'hex')) }
        case 'decrypt':
          return { plaintext: k.decrypt(t.envelope, field, t.profile_id) }
        case 'load_keys':
          return { key_ids: k.keyIds, newest: k.newestKeyId }
        default:
          assert.fail(`${t.id}: action ${t.action}`)
      }
    }
    if (exp.result === 'ok') {
      const got = run()
      for (const [key, want] of Object.entries(exp)) {
        if (key === 'result') continue
        if (key === 'key_ids_count') assert.equal(got.key_ids.length, want, t.id)
        else assert.deepEqual(got[key], want, `${t.id}: ${key}`)
      }
    } else {
      assert.equal(exp.result, 'error', t.id)
      const e = thrown(t, run)
      assert.equal(e.code, 'CRYPTO', t.id)
      checkError(t, e)
    }
  }
})

/** The rules the core decides (rules.json), each through the binding's own API: a property
 * setter, a message object and `prepareMessage`. */
const RULES = {
  set_ntlm_current_user(t) {
    const p = Profile.fromJSON(t.profile)
    p.useNtlmCurrentUser = true
    return p
  },
  set_port(t) {
    const p = Profile.fromJSON(t.profile)
    p.port = t.value
    return p
  },
  raw_message(t) {
    const ctx = new RrtContext({ environment: {} })
    for (const [id, name, value] of t.rrt) ctx.set(id, name, value)
    return prepareMessage({ from: t.envelope_from, to: t.to, raw: Buffer.from(t.raw, 'utf8') }, ctx)
  },
  attachment_default_type(t) {
    const attachment = { filename: t.filename, content: Buffer.from(t.content_base64, 'base64') }
    return prepareMessage({ from: t.from, to: t.to, text: t.text, attachments: [attachment] })
  },
  profile_json: (t) => Profile.fromJSON(JSON.stringify(t.profile)),
}

/** Checks one expected value of rules.json against what the action returned. */
const text = (prepared) => prepared.bytes.toString('utf8')
const RULE_CHECKS = {
  requires_authentication: (got, want, id) => assert.equal(got.requiresAuthentication, want, id),
  valid: (got, want, id) => {
    assert.equal(want, true, id)
    got.validate()
  },
  effective_port: (got, want, id) => assert.equal(got.effectivePort, want, id),
  envelope_from: (got, want, id) => assert.equal(got.envelopeFrom, want, id),
  recipients: (got, want, id) => assert.deepEqual(got.recipients, want, id),
  bytes_contain: (got, want, id) => assert.ok(text(got).includes(want), `${id}: ${text(got)}`),
  bytes_lack: (got, want, id) => assert.ok(!text(got).includes(want), `${id}: ${text(got)}`),
}

test('rules vectors', () => {
  const tests = vectors('rules.json')
  assert.ok(tests.length >= 9)
  for (const t of tests) {
    const action = RULES[t.action]
    assert.ok(action, `${t.id}: unknown action ${t.action}`)
    const exp = t.expected
    if (exp.error) {
      const e = thrown(t, () => action(t))
      assert.equal(e.kind, exp.error.kind, `${t.id}: ${e.message}`)
      assert.equal(e.message, exp.error.message, t.id)
      continue
    }
    const got = action(t)
    for (const [key, want] of Object.entries(exp)) {
      const check = RULE_CHECKS[key]
      assert.ok(check, `${t.id}: unknown expectation ${key}`)
      check(got, want, t.id)
    }
  }
})
