#!/usr/bin/env node
// The Node runner of the conformance cases: it executes the concrete inputs that the judge
// (`relaykit-conformance expand`, tests/conformance/README.md) writes on stdin, one JSON line
// each, through the public API of the `relaykit` package, and prints one outcome line per
// input. Whether an outcome is right is the judge's to say. Run by bindings-node/run_tests.sh as
//
//   relaykit-conformance run --lang node -- node tests/conformance/run_node.mjs
//
// Every outcome also gets `elapsed_ms` and `trace` (every line of the trace callback), which
// the judge checks (within_secs, no secret anywhere).
//
// RELAYKIT_NODE_MODULE names the package to test (a path to its entry or a package name;
// default: the repository's bindings-node/index.mjs).
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

async function loadRelaykit() {
  const spec = process.env.RELAYKIT_NODE_MODULE || path.join(ROOT, 'bindings-node', 'index.mjs')
  const isPath = spec.startsWith('.') || path.isAbsolute(spec)
  const mod = await import(isPath ? pathToFileURL(path.resolve(spec)).href : spec)
  return mod.default && !mod.Profile ? mod.default : mod
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
      ['from', 'to', 'cc', 'bcc', 'reply_to', 'subject', 'text', 'html', 'headers', 'message_id', 'envelope_from', 'expand_rrts', 'dsn', 'requiretls', 'list_unsubscribe', 'list_unsubscribe_post'].includes(k)
    ) {
      out[camel(k)] = v
    } else throw new Error(`runner: message.${k} has no Node form`)
  }
  return out
}

async function post(url, form) {
  const r = await fetch(url, { method: 'POST', body: new URLSearchParams(form), signal: AbortSignal.timeout(10000) })
  if (!r.ok) throw new Error(`${url} answered ${r.status}`)
  return r.json()
}

/** The case's declarative `token_provider` (tests/conformance/README.md): tokens from
 * `token_url` (`grant_type=password`), kept and given to each new connection, a new one on
 * `'refresh'`; `revoke_first` revokes the first before giving it, `refresh_same` gives the same
 * again on refresh, `fail` rejects, `returns` returns that value. `calls`: the reasons asked. */
export function tokenProvider(spec) {
  const p = { calls: [], token: null, fetched: 0 }
  const fetchToken = async () => {
    const t = (await post(spec.token_url, { grant_type: 'password', username: spec.username, password: spec.password }))
      .access_token
    p.fetched += 1
    if (p.fetched === 1 && spec.revoke_first) await post(spec.revoke_url, { token: t })
    return t
  }
  p.fn = async (username, reason) => {
    p.calls.push(reason)
    if (spec.fail !== undefined) throw new Error(spec.fail)
    if (spec.returns !== undefined) return spec.returns
    if (p.token === null || (reason === 'refresh' && !spec.refresh_same)) p.token = await fetchToken()
    return p.token
  }
  return p
}

/** `execute`'s outcome with `elapsed_ms`, `trace` and, with a token provider, `token_calls`. */
export async function observed(relaykit, c) {
  const trace = []
  const provider = c.token_provider !== undefined ? tokenProvider(c.token_provider) : null
  const start = performance.now()
  const outcome = await execute(relaykit, c, (direction, line) => trace.push(`${direction}: ${line}`), provider?.fn)
  outcome.elapsed_ms = Math.round(performance.now() - start)
  outcome.trace = trace
  if (provider) outcome.token_calls = provider.calls
  return outcome
}

/** The outcome object of README's table, from the public API. */
export async function execute(relaykit, c, trace, tokenProviderFn) {
  const { Keyring, Profile, RrtContext } = relaykit
  const keyring = c.keyring !== undefined ? Keyring.fromText(c.keyring) : new Keyring()
  try {
    const profile = Profile.fromJSON(c.profile)
    const context = new RrtContext()
    for (const [method, id, name, value] of c.rrt || []) context[camel(method)](id, name, value)
    const options = { keyring, context }
    for (const [k, v] of Object.entries(c.options || {})) options[camel(k)] = v
    if (trace) options.trace = trace
    if (tokenProviderFn) options.tokenProvider = tokenProviderFn
    if (c.action === 'test') return { status: 'ok', report: (await relaykit.test(profile, options)).toJSON() }
    if (c.action === 'mailer') {
      const mailer = new relaykit.Mailer(profile, options)
      const outcomes = await mailer.sendMany(c.messages.map(messageInput))
      await mailer.close()
      const each = (o) => (o instanceof Error ? { status: 'error', error: o.toJSON() } : { status: 'ok', result: o.toJSON() })
      return { status: 'ok', outcomes: outcomes.map(each), stats: mailer.stats.toJSON() }
    }
    return { status: 'ok', result: (await relaykit.send(profile, messageInput(c.message), options)).toJSON() }
  } catch (e) {
    if (typeof e?.toJSON !== 'function' || typeof e?.code !== 'string') throw e // not a relaykit error
    return { status: 'error', error: e.toJSON() }
  }
}

async function main() {
  const relaykit = await loadRelaykit()
  for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const c = JSON.parse(line)
    if (c.action === undefined) continue // a skip or an invalid case: the judge reports it
    let out
    try {
      out = { id: c.id, outcome: await observed(relaykit, c) }
    } catch (e) {
      // The judge fails this case; the others still run.
      out = { id: c.id, runner_error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` }
    }
    process.stdout.write(`${JSON.stringify(out)}\n`)
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
