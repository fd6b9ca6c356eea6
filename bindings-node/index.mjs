// ES module entry: the addon is loaded once, by the CommonJS loader napi-rs generates.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const binding = require('./main.js')

export const {
  Keyring,
  Mailer,
  Profile,
  RrtContext,
  encryptPassword,
  prepareMessage,
  send,
  test,
  __napiBindingTarget,
} = binding
export default binding
