"""Writes the fuzz seed corpora (fuzz/corpus) from the running test servers (tests/servers, $RELAYKIT_STATE/servers.env) and the vectors. Usage: python3 fuzz/make_seeds.py <repo>"""
import base64, hashlib, hmac, json, os, socket, sys, glob

ROOT = sys.argv[1]
C = os.path.join(ROOT, "fuzz", "corpus")
env = dict(l.strip().split("=", 1) for l in open(os.path.join(os.environ.get("RELAYKIT_STATE", os.path.join(ROOT, "tests", ".state")), "servers.env")) if "=" in l)

def put(target, name, data):
    d = os.path.join(C, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), "wb").write(data)

def recv_reply(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: return buf
        buf += chunk
        lines = buf.split(b"\n")
        last = [l for l in lines if l][-1] if any(lines) else b""
        if buf.endswith(b"\n") and len(last) >= 4 and last[3:4] in (b" ", b"\r"): return buf
        if buf.endswith(b"\n") and len(last.rstrip(b"\r")) == 3: return buf

def session(port, cmds):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    out = [recv_reply(s)]
    for c in cmds:
        s.sendall(c + b"\r\n"); out.append(recv_reply(s))
    s.close(); return out

servers = {"dovecot": env["RK_DOVECOT_PLAIN_PORT"], "dovecot-submission": env["RK_DOVECOT_STARTTLS_PORT"],
           "cyrus": env["RK_CYRUS_PLAIN_PORT"], "cyrus-submission": env["RK_CYRUS_STARTTLS_PORT"],
           "maildev": env["RK_MAILDEV_PLAIN_PORT"], "aiosmtpd": env["RK_AIOSMTPD_PORT"],
           "ntlm": env["RK_NTLM_PORT"], "badscram": env["RK_BADSCRAM_PORT"]}
for name, port in servers.items():
    try:
        r = session(port, [b"EHLO fuzz.relaykit.test", b"MAIL FROM:<a@relaykit.test>", b"RCPT TO:<someone@example.net>", b"NOOP", b"BOGUS", b"QUIT"])
    except Exception as e:
        print("skip", name, e); continue
    put("reply", f"{name}-greeting", r[0])
    put("reply", f"{name}-session", b"".join(r))
    for i, flags in enumerate([b"\x00\x00", b"\x01\x00", b"\x02\x00", b"\x07\xff"]):
        put("ehlo", f"{name}-{i}", flags + r[1])
    # NTLM CHALLENGE (type 2) from servers offering NTLM, answering a NEGOTIATE.
    if b"NTLM" in r[1]:
        neg = base64.b64encode(bytes.fromhex("4e544c4d5353500001000000358288e2000000000000000000000000000000000a00614a0000000f"))
        try:
            rr = session(port, [b"EHLO fuzz.relaykit.test", b"AUTH NTLM " + neg])
            line = rr[2].split(b"\r\n")[0]
            if line.startswith(b"334 "):
                put("sasl_ntlm", f"{name}-challenge", base64.b64decode(line[4:]))
        except Exception as e:
            print("ntlm", name, e)
    if b"CRAM-MD5" in r[1]:
        try:
            rr = session(port, [b"EHLO fuzz.relaykit.test", b"AUTH CRAM-MD5"])
            line = rr[2].split(b"\r\n")[0]
            if line.startswith(b"334 "):
                put("sasl_simple", f"{name}-cram", b"\x00" + base64.b64decode(line[4:]))
        except Exception as e:
            print("cram", name, e)

# Handwritten replies: every shape the parser distinguishes.
for i, r in enumerate([b"250 OK\r\n", b"250-a\r\n250 b\r\n", b"535 5.7.8 Error: authentication failed\r\n",
                       b"421 4.3.2 Service not available, closing\r\n", b"334 \r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n",
                       b"250\n", b"250-x\n251 y\n", b"550-5.1.1 no\r\n550 5.1.1 such user\r\n", b"220 \xff\xfe host\r\n"]):
    put("reply", f"shape-{i}", r)
put("ehlo", "postfix-doc", b"\x00\x00250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n")
put("ehlo", "exchange", b"\x01\x00250-EX01.corp.example Hello [10.0.0.1]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH NTLM LOGIN GSSAPI\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250 CHUNKING\r\n")
put("ehlo", "gmail", b"\x01\x40250-smtp.gmail.com at your service\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n")

# SCRAM: RFC 5802 (SHA-1) and the same nonce with SHA-256, valid server-final, and faults.
NONCE = "fyko+d2lbbFgONRv9qkxdawL"
def scram(h, salt_b64, i, snonce):
    sf = f"r={NONCE}{snonce},s={salt_b64},i={i}"
    salted = hashlib.pbkdf2_hmac(h, b"pencil", base64.b64decode(salt_b64), i)
    am = f"n=user,r={NONCE},{sf},c=biws,r={NONCE}{snonce}"
    sk = hmac.new(salted, b"Server Key", h).digest()
    return sf, "v=" + base64.b64encode(hmac.new(sk, am.encode(), h).digest()).decode()
sf, fin = scram("sha1", "QSXCR+Q6sek8bf92", 4096, "3rfcNHYJY1ZVvWVs7j")
assert fin == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", fin
put("sasl_scram", "rfc5802", f"1\n{sf}\n{fin}")
put("sasl_scram", "rfc5802-bad-signature", f"1\n{sf}\nv=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
sf, fin = scram("sha256", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
put("sasl_scram", "sha256", f"256\n{sf}\n{fin}")
put("sasl_scram", "sha256-low-iterations", f"256\n{sf.replace('i=4096', 'i=1')}\n{fin}")
put("sasl_scram", "server-error", f"256\ne=unknown-user\n")
put("sasl_scram", "final-error", f"256\n{sf}\ne=invalid-proof")
put("sasl_scram", "nonce-not-extended", f"256\nr=abc,s=QSXCR+Q6sek8bf92,i=4096\nv=")
put("sasl_scram", "extension", f"1\nm=ext,r={NONCE}x,s=QSXCR+Q6sek8bf92,i=4096\n")

# NTLM: the MS-NLMP 4.2.4 CHALLENGE, truncated and with an offset out of bounds.
ch = bytes.fromhex("4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f530065007200760065007200020000000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
put("sasl_ntlm", "ms-nlmp-4.2.4", ch)
put("sasl_ntlm", "truncated", ch[:40])
put("sasl_ntlm", "offset-out-of-bounds", ch[:44] + b"\xff\xff\x00\x00" + ch[48:])

# CRAM-MD5 (RFC 2195), LOGIN, PLAIN, XOAUTH2.
put("sasl_simple", "rfc2195", b"\x00<1896.697170952@postoffice.reston.mci.net>")
put("sasl_simple", "cram-two", b"\x00<1@x>\n<2@x>")
put("sasl_simple", "login", b"\x01Username:\nPassword:\nExtra:")
put("sasl_simple", "plain", b"\x02x")
put("sasl_simple", "xoauth2", b'\x03{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}\n')

# Profiles, RRTs, envelopes from the conformance vectors; messages from the cases.
V = os.path.join(ROOT, "tests", "conformance", "vectors")
for t in json.load(open(os.path.join(V, "profile.json")))["tests"]:
    put("profile_json", t["id"], t.get("input_text") if "input_text" in t else json.dumps(t["input"]))
for t in json.load(open(os.path.join(V, "rrt.json")))["tests"][:40]:
    ctx = "\n".join(f"{k}={v}" for k, v in (t.get("context") or {}).items()) if isinstance(t.get("context"), dict) else ""
    put("rrt", t["id"], f"{ctx}\n{t.get('field', 'username')}\n--\n{t.get('input', t.get('value', ''))}")
for t in json.load(open(os.path.join(V, "secret.json")))["tests"]:
    env_text = (t.get("expected") or {}).get("envelope") or t.get("envelope") or t.get("plaintext") or ""
    put("envelope", t["id"], f"{t.get('keys', '')}\n{t.get('field', 'password')}\n{env_text}")
n = 0
for f in glob.glob(os.path.join(ROOT, "tests", "conformance", "cases", "*.json")):
    def walk(o):
        global n
        if isinstance(o, dict):
            if "message" in o and isinstance(o["message"], dict):
                n += 1; put("message", f"case-{n}", json.dumps(o["message"]))
            for v in o.values(): walk(v)
        elif isinstance(o, list):
            for v in o: walk(v)
    walk(json.load(open(f)))
put("message", "injection", json.dumps({"from": "Alice <alice@relaykit.test>", "to": ["bob@relaykit.test"], "bcc": "carol@relaykit.test",
    "subject": "hi ~ACC::%evil%~", "text": "line\n.\n..dot\r\nend", "headers": {"X-Tag": "~ACC::%name%~"}}))
put("message", "attachments", json.dumps({"from": "a@relaykit.test", "to": "b@relaykit.test", "html": "<img src=cid:logo>",
    "text": "see", "attachments": [{"filename": "r\u00e9sum\u00e9.pdf", "content_base64": "JVBERi0="}],
    "inline": [{"content_id": "logo", "content_type": "image/png", "content_base64": "iVBORw=="}]}))
put("message", "raw", json.dumps({"from": "a@relaykit.test", "to": "b@relaykit.test", "raw_base64": base64.b64encode(b"Subject: x\n\n.\nbody\r").decode()}))
print("seeds:", {d: len(os.listdir(os.path.join(C, d))) for d in sorted(os.listdir(C))})
