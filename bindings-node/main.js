'use strict'
// The package's CommonJS entry (index.mjs re-exports it for ESM). napi-rs's generated loader,
// index.js, finds the native addon: beside it (a build from source) or in the platform package
// npm installs as an optional dependency (relaykit-linux-x64-gnu). When neither is there, its
// error only says "Cannot find native binding"; this one names the platform and the package.
const { name, version, napi } = require('./package.json')

function platformTriple() {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  const glibc = process.report && process.report.getReport().header.glibcVersionRuntime
  return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`
}

try {
  module.exports = require('./index.js')
} catch (e) {
  if (!/Cannot find native binding|Failed to load native binding/.test(String(e && e.message))) throw e
  const triple = platformTriple()
  const wanted = `${name}-${triple}`
  const shipped = (napi && napi.targets ? napi.targets : []).map((t) =>
    t === 'x86_64-unknown-linux-gnu' ? `${name}-linux-x64-gnu` : t)
  const err = new Error(shipped.includes(wanted)
    ? `relaykit: the native addon for ${triple} is not installed: it is the package ${wanted}@${version}, ` +
      'which npm installs as an optional dependency of relaykit. It is missing when optional dependencies ' +
      'were omitted (--omit=optional, --no-optional) or node_modules came from another platform: ' +
      `run \`npm install ${wanted}@${version}\` (or install its tarball beside relaykit's).`
    : `relaykit: no native addon is published for ${triple} (relaykit ${version} ships ${shipped.join(', ')}); ` +
      'build it from source with a Rust toolchain: see the README, "Build from source".')
  err.code = 'ERR_RELAYKIT_NO_ADDON'
  err.cause = e
  throw err
}
