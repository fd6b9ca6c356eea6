// Lays out the two npm packages of the napi-rs v3 layout for `npm pack`, from bindings-node/:
//   OUT/main           relaykit: the JS loader, ESM entry, types; optionalDependencies on the
//                      platform package, so npm installs the addon that fits the machine
//   OUT/linux-x64-gnu  relaykit-linux-x64-gnu: the release .node (its package.json is the one
//                      `napi create-npm-dirs` generated, committed under bindings-node/npm/)
// Usage: node dist/npm_stage.mjs NAPI_OUTPUT_DIR OUT
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [napiOut, out] = process.argv.slice(2)
if (!napiOut || !out) throw new Error('usage: node dist/npm_stage.mjs NAPI_OUTPUT_DIR OUT')
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const node = join(root, 'bindings-node')
const licences = ['LICENSE-MIT', 'LICENSE-APACHE']
const json = (p) => JSON.parse(readFileSync(p, 'utf8'))
const write = (p, v) => writeFileSync(p, JSON.stringify(v, null, 2) + '\n')
rmSync(out, { recursive: true, force: true })

const pkg = json(join(node, 'package.json'))
const repository = { type: 'git', url: 'https://example.invalid/relaykit', directory: 'bindings-node' }
const keywords = ['smtp', 'email', 'mail', 'tls', 'sasl', 'napi']
const platforms = pkg.napi.targets.map((t) => {
  if (t !== 'x86_64-unknown-linux-gnu') throw new Error(`npm_stage.mjs: no layout for target ${t} yet`)
  return { dir: 'linux-x64-gnu', node: `${pkg.napi.binaryName}.linux-x64-gnu.node` }
})

// The main package: what bindings-node/package.json ships, minus the development parts.
const main = join(out, 'main')
mkdirSync(main, { recursive: true })
for (const f of ['main.js', 'index.js', 'index.mjs', 'index.d.ts', 'README.md']) cpSync(join(node, f), join(main, f))
for (const f of licences) cpSync(join(root, f), join(main, f))
const { private: _private, devDependencies: _dev, scripts: _scripts, ...shipped } = pkg
shipped.files = ['main.js', 'index.js', 'index.mjs', 'index.d.ts', ...licences]
shipped.optionalDependencies = {}
for (const p of platforms) shipped.optionalDependencies[json(join(node, 'npm', p.dir, 'package.json')).name] = pkg.version
write(join(main, 'package.json'), { ...shipped, repository, keywords })

// One package per platform, holding its addon.
for (const p of platforms) {
  const dir = join(out, p.dir)
  mkdirSync(dir, { recursive: true })
  const plat = json(join(node, 'npm', p.dir, 'package.json'))
  if (plat.version !== pkg.version) throw new Error(`bindings-node/npm/${p.dir}/package.json: version ${plat.version}, not ${pkg.version}`)
  cpSync(join(napiOut, p.node), join(dir, p.node))
  cpSync(join(node, 'npm', p.dir, 'README.md'), join(dir, 'README.md'))
  for (const f of licences) cpSync(join(root, f), join(dir, f))
  write(join(dir, 'package.json'), { ...plat, files: [p.node, ...licences], repository, keywords })
}
console.log(`staged ${1 + platforms.length} npm packages in ${out}`)
