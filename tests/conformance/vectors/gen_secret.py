#!/usr/bin/env python3
"""Writes secret.json: the password-envelope vectors, computed with the `cryptography`
package (an implementation independent of relaykit's) so that the Rust, C, Python and Node
runners check relaykit against someone else's AES-256-GCM, not against itself.

Envelope: enc:v1:<kid>:<base64url-nopad(nonce(12) || ciphertext || tag(16))>
AAD: b"relaykit/enc/v1" + for each of (kid, field, profile_id or ""): u32 big-endian length + UTF-8 bytes.
Run: python3 gen_secret.py > secret.json
"""
import base64, json, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

K1 = bytes(range(32))
K2 = bytes(0xA0 + (i % 16) for i in range(32))
B64 = lambda b: base64.b64encode(b).decode()
U64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
KEYS1 = f"k1:{B64(K1)}"
KEYS2 = f"k1:{B64(K1)},k2:{B64(K2)}"

def aad(kid, field, pid):
    out = b"relaykit/enc/v1"
    for part in (kid, field, pid or ""):
        p = part.encode()
        out += struct.pack(">I", len(p)) + p
    return out

def seal(key, kid, pt, field, pid, nonce):
    data = nonce + AESGCM(key).encrypt(nonce, pt.encode(), aad(kid, field, pid))
    return f"enc:v1:{kid}:{U64(data)}"

def flip(env, index):
    head, data = env.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    raw[index] ^= 0x01
    return f"{head}:{U64(bytes(raw))}"

N1 = bytes.fromhex("000102030405060708090a0b")
N2 = bytes.fromhex("cafebabefacedbaddecaf888")
base = seal(K1, "k1", "hunter2", "password", "prod", N1)
tests = []
def t(id_, comment, **kw):
    tests.append({"id": f"secret-{len(tests)+1:03d}", "name": id_, "comment": comment, **kw})

ok = lambda **kw: {"result": "ok", **kw}
err = lambda *words: {"result": "error", "kind": "crypto", "message_contains": list(words)}

t("encrypt-ascii", "ASCII password, profile id bound", action="encrypt", keys=KEYS1, plaintext="hunter2", field="password", profile_id="prod", nonce=N1.hex(), expected=ok(envelope=base))
t("encrypt-no-profile-id", "profile without an id", action="encrypt", keys=KEYS1, plaintext="hunter2", field="password", profile_id=None, nonce=N1.hex(), expected=ok(envelope=seal(K1, "k1", "hunter2", "password", None, N1)))
t("encrypt-rrt-literal", "an RRT in an encrypted password is encrypted as text", action="encrypt", keys=KEYS1, plaintext="~WIN::HOME~", field="password", profile_id="prod", nonce=N2.hex(), expected=ok(envelope=seal(K1, "k1", "~WIN::HOME~", "password", "prod", N2)))
t("encrypt-unicode", "non-ASCII password", action="encrypt", keys=KEYS1, plaintext="Pässwörd€1 ~ %", field="password", profile_id="prod", nonce=N2.hex(), expected=ok(envelope=seal(K1, "k1", "Pässwörd€1 ~ %", "password", "prod", N2)))
t("encrypt-empty", "the empty password", action="encrypt", keys=KEYS1, plaintext="", field="password", profile_id="prod", nonce=N1.hex(), expected=ok(envelope=seal(K1, "k1", "", "password", "prod", N1)))
t("encrypt-newest-key", "with two keys the newest (last) encrypts", action="encrypt", keys=KEYS2, plaintext="hunter2", field="password", profile_id="prod", nonce=N1.hex(), expected=ok(envelope=seal(K2, "k2", "hunter2", "password", "prod", N1)))
t("decrypt-ok", "round trip", action="decrypt", keys=KEYS1, envelope=base, field="password", profile_id="prod", expected=ok(plaintext="hunter2"))
t("decrypt-old-key", "an envelope under an older key still decrypts after rotation added a key", action="decrypt", keys=KEYS2, envelope=base, field="password", profile_id="prod", expected=ok(plaintext="hunter2"))
t("decrypt-unicode", "non-ASCII round trip", action="decrypt", keys=KEYS1, envelope=seal(K1, "k1", "Pässwörd€1 ~ %", "password", "prod", N2), field="password", profile_id="prod", expected=ok(plaintext="Pässwörd€1 ~ %"))
t("tamper-ciphertext", "one bit flipped in the ciphertext", action="decrypt", keys=KEYS1, envelope=flip(base, 13), field="password", profile_id="prod", expected=err("failed authentication", "k1"))
t("tamper-tag", "one bit flipped in the tag", action="decrypt", keys=KEYS1, envelope=flip(base, -1), field="password", profile_id="prod", expected=err("failed authentication"))
t("tamper-nonce", "one bit flipped in the nonce", action="decrypt", keys=KEYS1, envelope=flip(base, 0), field="password", profile_id="prod", expected=err("failed authentication"))
t("moved-field", "moved to another field", action="decrypt", keys=KEYS1, envelope=base, field="username", profile_id="prod", expected=err("failed authentication", "username"))
t("moved-profile", "moved to another profile", action="decrypt", keys=KEYS1, envelope=base, field="password", profile_id="test", expected=err("failed authentication", "test"))
t("moved-profile-no-id", "moved to a profile without an id", action="decrypt", keys=KEYS1, envelope=base, field="password", profile_id=None, expected=err("failed authentication"))
t("relabel-known", "key id relabelled to another known key", action="decrypt", keys=KEYS2, envelope=base.replace(":k1:", ":k2:"), field="password", profile_id="prod", expected=err("failed authentication", "k2"))
t("relabel-unknown", "key id relabelled to an unknown key", action="decrypt", keys=KEYS1, envelope=base.replace(":k1:", ":k9:"), field="password", profile_id="prod", expected=err("k9", "not in the keyring"))
t("truncated", "data cut short of nonce and tag", action="decrypt", keys=KEYS1, envelope=base[:30], field="password", profile_id="prod", expected=err("truncated"))
t("truncated-by-one", "last byte of the tag removed", action="decrypt", keys=KEYS1, envelope=base.rsplit(":", 1)[0] + ":" + U64(base64.urlsafe_b64decode(base.rsplit(":", 1)[1] + "==")[:-1]), field="password", profile_id="prod", expected=err("failed authentication"))
t("bad-base64", "data is not base64url", action="decrypt", keys=KEYS1, envelope="enc:v1:k1:not*base64!", field="password", profile_id="prod", expected=err("base64url"))
t("unknown-version", "unknown envelope version", action="decrypt", keys=KEYS1, envelope=base.replace("enc:v1:", "enc:v2:"), field="password", profile_id="prod", expected=err("version", "v2"))
t("no-prefix", "not an envelope at all", action="decrypt", keys=KEYS1, envelope="hunter2", field="password", profile_id="prod", expected=err("malformed"))
t("missing-data", "no data part", action="decrypt", keys=KEYS1, envelope="enc:v1:k1", field="password", profile_id="prod", expected=err("malformed"))
t("empty-keyring", "no key loaded", action="decrypt", keys="", envelope=base, field="password", profile_id="prod", expected=err("not in the keyring"))
t("keys-order", "key text: later keys are newer", action="load_keys", keys=KEYS2, expected=ok(key_ids=["k1", "k2"], newest="k2"))
t("keys-derived-id", "one bare base64 key gets an id derived from it", action="load_keys", keys=B64(K1), expected=ok(key_ids_count=1))
t("keys-bad-base64", "a key that is not base64", action="load_keys", keys="k1:@@@", expected=err("k1", "base64"))
t("keys-short", "a key of 16 bytes", action="load_keys", keys="k1:" + B64(bytes(16)), expected=err("32 bytes", "16"))
t("keys-duplicate-id", "two different keys under one id", action="load_keys", keys=f"k1:{B64(K1)},k1:{B64(K2)}", expected=err("k1"))
t("keys-bad-id", "a key id with a space", action="load_keys", keys=f"my key:{B64(K1)}", expected=err("my key"))
print(json.dumps({
    "schema": "relaykit-secret-vectors/1",
    "about": "Password envelopes. keys is RELAYKIT_KEY text. encrypt uses the given nonce (hex) through the test-only nonce hook; decrypt and load_keys need no hook. message_contains lists words the crypto error must include. Made by gen_secret.py with the cryptography package.",
    "tests": tests}, indent=1, ensure_ascii=False))
