// The running test servers' variables ($RELAYKIT_STATE/servers.env, default <repo>/tests/.state)
// and where aiosmtpd stores what arrived. Shared by the server tests (CommonJS, so both the ESM
// tests and the CommonJS check can load it).
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const STATE = process.env.RELAYKIT_STATE || path.join(ROOT, 'tests', '.state')
const ENV_FILE = path.join(STATE, 'servers.env')

/** KEY=VALUE lines of servers.env, or null when the servers were not started. */
function loadServers() {
  if (!fs.existsSync(ENV_FILE)) return null
  const vars = {}
  for (const line of fs.readFileSync(ENV_FILE, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.indexOf('=')
    if (i > 0) vars[line.slice(0, i).trim()] = line.slice(i + 1)
  }
  return vars
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The highest NNNNNN of the aiosmtpd store now: messages after it are this test's. */
function aiosmtpdSeq(vars) {
  const seqs = fs.readdirSync(vars.RK_AIOSMTPD_DIR).map((f) => /^(\d+)\.json$/.exec(f)).filter(Boolean)
  return Math.max(0, ...seqs.map((m) => Number(m[1])))
}

/**
 * The envelope (.json) and exact bytes (.eml) of the aiosmtpd messages after `since` whose
 * Message-ID is in `ids`, polling until all are there or `timeoutMs` passes (the .json is
 * written last, so its presence means the message is complete).
 */
async function aiosmtpdFind(vars, since, ids, timeoutMs = 10000) {
  const want = new Set(ids)
  const found = new Map()
  const deadline = Date.now() + timeoutMs
  const seen = new Set()
  for (;;) {
    for (const f of fs.readdirSync(vars.RK_AIOSMTPD_DIR)) {
      const m = /^(\d+)\.json$/.exec(f)
      if (!m || Number(m[1]) <= since || seen.has(f)) continue
      seen.add(f)
      const meta = JSON.parse(fs.readFileSync(path.join(vars.RK_AIOSMTPD_DIR, f), 'utf8'))
      const eml = fs.readFileSync(path.join(vars.RK_AIOSMTPD_DIR, meta.eml))
      const id = /^Message-ID:\s*(\S+)/im.exec(eml.toString('latin1'))?.[1] ?? meta.message_id
      if (want.has(id)) found.set(id, { meta, eml })
    }
    if (found.size === want.size || Date.now() > deadline) return found
    await sleep(20)
  }
}

module.exports = { ROOT, STATE, ENV_FILE, loadServers, aiosmtpdSeq, aiosmtpdFind }
