#!/usr/bin/env node
// The Node runner of the conformance cases (tests/conformance/cases/*.json) against the real
// servers, following tests/conformance/README.md, through the public API of the `relaykit`
// package only. Run by bindings-node/run_tests.sh:
//
//   node tests/conformance/run_node.mjs [CASE_FILE ...]    (default: every file in cases/)
//
// RELAYKIT_NODE_MODULE names the package to test (a path to its entry or a package name;
// default: the repository's bindings-node/index.mjs). Prints one line per case (`ok`, `FAIL`
// with the path of the first mismatch, `skip` with the reason) and exits non-zero if a case
// failed or none ran.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..')

async function loadRelaykit() {
  const spec = process.env.RELAYKIT_NODE_MODULE || path.join(ROOT, 'bindings-node', 'index.mjs')
  const isPath = spec.startsWith('.') || path.isAbsolute(spec)
  const mod = await import(isPath ? pathToFileURL(path.resolve(spec)).href : spec)
  return mod.default && !mod.Profile ? mod.default : mod
}

class Missing extends Error {}

/** The environment first, then $RELAYKIT_STATE/servers.env (default tests/.state). */
export function variables() {
  const state = process.env.RELAYKIT_STATE || path.join(ROOT, 'tests', '.state')
  const found = {}
  const file = path.join(state, 'servers.env')
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line || line.startsWith('#')) continue
      const i = line.indexOf('=')
      if (i > 0) found[line.slice(0, i).trim()] = line.slice(i + 1)
    }
  }
  return { ...found, ...process.env }
}

const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key)

/** `${NAME}` inside any string; a string that is exactly `#{NAME}` becomes NAME's value
 * parsed as JSON. Throws Missing(name) for an undefined variable. */
export function substitute(value, vars) {
  if (typeof value === 'string') {
    const whole = /^#\{([^}]*)\}$/.exec(value)
    if (whole) {
      if (!has(vars, whole[1])) throw new Missing(whole[1])
      return JSON.parse(vars[whole[1]])
    }
    return value.replace(/\$\{([^}]*)\}/g, (_, name) => {
      if (!has(vars, name)) throw new Missing(name)
      return vars[name]
    })
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]))
  }
  return value
}

/** A profile with `$base` is that object with the other keys laid over it. */
export function withBase(profile) {
  if (profile === null || typeof profile !== 'object' || Array.isArray(profile) || !has(profile, '$base')) {
    return profile
  }
  const { $base: base, ...rest } = profile
  if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new Error('$base is not an object')
  return { ...base, ...rest }
}

const ABSENT = Symbol('absent')
const show = (v) => (v === ABSENT ? 'nothing' : JSON.stringify(v))
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

/** null when `value` (ABSENT: a missing key) matches `pattern`, else the first mismatch. */
export function mismatch(pattern, value, where) {
  const fail = (why) => `${where}: ${why}; got ${show(value)}`
  if (pattern === null) return value === ABSENT || value === null ? null : fail('expected null or absent')
  if (isObject(pattern)) {
    const keys = Object.keys(pattern)
    if (keys.length === 1 && keys[0].startsWith('$')) {
      const op = keys[0]
      const arg = pattern[op]
      if (op === '$any' && value !== ABSENT && value !== null) return null
      if (op === '$contains' && typeof value === 'string' && typeof arg === 'string' && value.includes(arg)) return null
      if (op === '$has' && Array.isArray(value)) {
        const wants = Array.isArray(arg) ? arg : []
        for (const [i, want] of wants.entries()) {
          if (!value.some((item) => mismatch(want, item, where) === null)) {
            return fail(`no element matches ${op}[${i}] = ${JSON.stringify(want)}`)
          }
        }
        return null
      }
      return fail(`expected ${op} ${JSON.stringify(arg)}`)
    }
    if (!isObject(value)) return fail('expected an object')
    for (const key of keys) {
      const why = mismatch(pattern[key], has(value, key) ? value[key] : ABSENT, `${where}.${key}`)
      if (why) return why
    }
    return null
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(value)) return fail('expected an array')
    if (value.length !== pattern.length) return fail(`expected ${pattern.length} elements`)
    for (let i = 0; i < pattern.length; i++) {
      const why = mismatch(pattern[i], value[i], `${where}[${i}]`)
      if (why) return why
    }
    return null
  }
  // Numbers by value; booleans and strings by type and value.
  return value === pattern ? null : fail(`expected ${JSON.stringify(pattern)}`)
}

const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/** A part of the message JSON form (`content_base64` or `path`) as the package's input. */
function partInput(part, where) {
  const out = {}
  for (const [k, v] of Object.entries(part)) {
    if (k === 'content_base64') out.content = Buffer.from(v, 'base64')
    else if (['filename', 'content_type', 'content_id', 'path'].includes(k)) out[camel(k)] = v
    else throw new Error(`runner: ${where}.${k} has no Node form`)
  }
  return out
}

/** The message JSON form (`relaykit::Message::from_json_value`) as the package's input: the
 * same fields in camelCase, base64 as Buffers. */
export function messageInput(m) {
  const out = {}
  for (const [k, v] of Object.entries(m)) {
    if (k === 'raw_base64') out.raw = Buffer.from(v, 'base64')
    else if (k === 'attachments' || k === 'inline') out[k] = v.map((p, i) => partInput(p, `message.${k}[${i}]`))
    else if (
      ['from', 'to', 'cc', 'bcc', 'reply_to', 'subject', 'text', 'html', 'headers', 'message_id', 'envelope_from', 'expand_rrts'].includes(k)
    ) {
      out[camel(k)] = v
    } else throw new Error(`runner: message.${k} has no Node form`)
  }
  return out
}

/** The outcome object of README's table, from the public API. */
export async function runCase(relaykit, c) {
  const { Keyring, Profile, RrtContext } = relaykit
  const failed = (e) => {
    if (typeof e?.toJSON !== 'function' || typeof e?.code !== 'string') throw e // not a relaykit error
    return { status: 'error', error: e.toJSON() }
  }
  try {
    const profile = Profile.fromJSON(withBase(c.profile))
    const keyring = has(c, 'keyring') ? Keyring.fromText(c.keyring) : new Keyring()
    const context = new RrtContext()
    const rrt = c.rrt || {}
    for (const method of ['set', 'set_protected', 'set_restricted']) {
      const entries = rrt[method] || []
      // [[id, name, value], ...] as the cases write it; {"ID::NAME": value} also works.
      const triples = Array.isArray(entries)
        ? entries
        : Object.entries(entries).map(([k, v]) => [...k.split(/::(.*)/s, 2), v])
      for (const [id, name, value] of triples) context[camel(method)](id, name, value)
    }
    const options = { keyring, context }
    for (const [k, v] of Object.entries(c.options || {})) options[camel(k)] = v
    if (c.action === 'test') return { status: 'ok', report: (await relaykit.test(profile, options)).toJSON() }
    if (c.action === 'send') {
      return { status: 'ok', result: (await relaykit.send(profile, messageInput(c.message), options)).toJSON() }
    }
  } catch (e) {
    return failed(e)
  }
  throw new Error(`unknown action ${JSON.stringify(c.action)}`)
}

async function main(argv) {
  const relaykit = await loadRelaykit()
  const vars = variables()
  const roles = new Set((vars.RK_ROLES || '').split(/\s+/).filter(Boolean))
  const files = argv.length
    ? argv
    : fs
        .readdirSync(path.join(HERE, 'cases'))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(HERE, 'cases', f))
  let passed = 0
  let failed = 0
  let skipped = 0
  for (const file of files) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'))
    for (const group of doc.testGroups) {
      const role = group.role
      const family = role.split('-')[0]
      for (const raw of group.tests) {
        const ident = `${path.basename(file)} #${raw.tcId} [${role}] ${raw.comment ?? ''}`
        if (!roles.has(family)) {
          console.log(`skip ${ident}: role family \`${family}\` not in RK_ROLES`)
          skipped++
          continue
        }
        const absent = (raw.requires || []).filter((v) => !has(vars, v))
        if (absent.length) {
          console.log(`skip ${ident}: ${absent[0]} is not set`)
          skipped++
          continue
        }
        let c
        try {
          c = substitute(raw, vars)
        } catch (e) {
          if (!(e instanceof Missing)) throw e
          console.log(`skip ${ident}: variable ${e.message} is not defined`)
          skipped++
          continue
        }
        let why
        try {
          const outcome = await runCase(relaykit, c)
          why = mismatch(c.expect, outcome, '$')
          if (why) why += `\n     outcome: ${JSON.stringify(outcome)}`
        } catch (e) {
          // A runner error fails the case, not the run.
          why = `${e?.name ?? 'Error'}: ${e?.message ?? e}`
        }
        if (why) {
          console.log(`FAIL ${ident}: ${why}`)
          failed++
        } else {
          console.log(`ok   ${ident}`)
          passed++
        }
      }
    }
  }
  console.log(`\nconformance (node): ${passed} passed, ${failed} failed, ${skipped} skipped`)
  return failed || !passed ? 1 : 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
