// The Node clients of the mailer benchmark (bench/driver.py runs them; see bench/README.md).
//
//   relaykit-seq         one relaykit Mailer, `await mailer.send(m)` one after another
//   relaykit-concurrent  one relaykit Mailer, --concurrency sends in flight at once (Promise.all
//                        over that many async loops)
//   relaykit-send-many   one relaykit Mailer, sendMany() on batches of about a quarter second's
//                        worth (16 to 1,000 messages), two batches in flight
//   nodemailer           Nodemailer with pool: true, maxConnections --conns, the same
//                        --concurrency sends in flight (its pool queues them)
//
// Options as for every client (--host --port --tls --ca --message --from --to --messages
// --warmup --max-secs --conns --concurrency); prints one JSON line.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

const argv = process.argv.slice(2)
const a = {}
for (let i = 0; i + 1 < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1]
const num = (k, d) => (a[k] === undefined ? d : Number(a[k]))

const body = readFileSync(a.message)
const tls = a.tls === '1'
const host = a.host ?? '127.0.0.1'
const port = num('port', 25)

// The plan: the warm-up's messages, then the timed phase's (count and deadline).
const plan = { next: 0, limit: num('warmup', 20), deadline: Infinity, sent: 0, failed: 0, error: null }
const take = () => performance.now() < plan.deadline && plan.next++ < plan.limit
const record = (ok, e) => {
  if (ok) plan.sent++
  else {
    plan.failed++
    plan.error ??= String(e?.message ?? e)
  }
}

// The warm-up, then the clock: runs `phase` twice and prints the JSON line.
async function timed(phase) {
  await phase()
  const warm = { sent: plan.sent, failed: plan.failed, error: plan.error }
  Object.assign(plan, { sent: 0, failed: 0, error: null, next: plan.limit })
  plan.limit += num('messages', 1000)
  const t0 = performance.now()
  plan.deadline = t0 + num('max-secs', 5) * 1000
  await phase()
  const secs = (performance.now() - t0) / 1000
  const line = { warmup_sent: warm.sent, warmup_failed: warm.failed, sent: plan.sent, failed: plan.failed, secs }
  console.log(JSON.stringify({ ...line, error: warm.error ?? plan.error }))
}

// `inFlight` async loops, each awaiting `send()` for every message the plan hands it.
async function phases(send, inFlight) {
  const loop = async () => {
    while (take()) {
      try {
        await send()
        record(true)
      } catch (e) {
        record(false, e)
      }
    }
  }
  await timed(() => Promise.all(Array.from({ length: inFlight }, loop)))
}

function relaykitMailer() {
  const { Mailer, Profile } = require(path.join(here, '../../bindings-node'))
  const keys = { server: host, port, heloName: 'bench.test' }
  if (tls) Object.assign(keys, { encryptedConnection: true, tlsMode: 'implicit', tlsCaFile: a.ca })
  else keys.starttls = 'never'
  return new Mailer(new Profile(keys), { maxConnections: num('conns', 1), maxMessagesPerConnection: 1e9 })
}

async function relaykit(concurrent) {
  const mailer = relaykitMailer()
  const message = { from: a.from, to: [a.to], raw: new Uint8Array(body) }
  await phases(() => mailer.send(message), concurrent ? num('concurrency', 1) : 1)
  await mailer.close()
}

// Two loops, each sending a batch (the plan's next messages) with sendMany until none is left.
async function relaykitSendMany() {
  const mailer = relaykitMailer()
  const message = { from: a.from, to: [a.to], raw: new Uint8Array(body) }
  let size = 16
  const loop = async () => {
    for (;;) {
      let n = 0
      while (n < size && take()) n++
      if (!n) return
      const t0 = performance.now()
      for (const o of await mailer.sendMany(Array(n).fill(message))) record(!(o instanceof Error), o)
      size = Math.max(16, Math.min(1000, Math.floor((n / Math.max(performance.now() - t0, 0.001)) * 250)))
    }
  }
  await timed(() => Promise.all([loop(), loop()]))
  await mailer.close()
}

async function nodemailer() {
  const { createTransport } = require(path.join(here, 'node_modules/nodemailer'))
  const t = createTransport({
    host,
    port,
    secure: tls,
    ignoreTLS: !tls,
    name: 'bench.test',
    pool: true,
    maxConnections: num('conns', 1),
    maxMessages: Infinity,
    tls: tls ? { ca: readFileSync(a.ca) } : undefined,
  })
  const envelope = { from: a.from, to: [a.to] }
  await phases(() => t.sendMail({ envelope, raw: body }), num('concurrency', 1))
  t.close()
}

try {
  if (a.client === 'relaykit-seq') await relaykit(false)
  else if (a.client === 'relaykit-concurrent') await relaykit(true)
  else if (a.client === 'relaykit-send-many') await relaykitSendMany()
  else if (a.client === 'nodemailer') await nodemailer()
  else throw new Error(`unknown --client ${a.client}`)
} catch (e) {
  console.log(JSON.stringify({ sent: 0, failed: 0, secs: 0, error: String(e?.message ?? e) }))
  process.exitCode = 1
}
