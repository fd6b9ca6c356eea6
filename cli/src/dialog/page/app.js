// The "SMTP Server Configuration" page. It decides no rule: defaults, validation, the port in
// effect, hints and which field a failure concerns all come from the server, which asks the
// relaykit core. This script only moves values between the form and the API, and shows what
// the core said.
'use strict';

(function () {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const $ = (id) => document.getElementById(id);

  const TEXT = ['server', 'username', 'tls_ca_file', 'helo_name', 'id', 'proxy', 'tls_client_cert_file',
    'tls_client_key_file'];
  const CHECKS = ['encrypted_connection', 'requires_authentication', 'use_ntlm_current_user',
    'allow_plaintext_password', 'tls_verify'];
  const SELECTS = ['tls_mode', 'starttls', 'auth_order', 'protocol'];
  const ADVANCED = ['tls_mode', 'starttls', 'auth_mechanisms', 'auth_order', 'allow_plaintext_password',
    'tls_verify', 'tls_ca_file', 'helo_name', 'timeout_secs', 'id', 'protocol', 'proxy', 'tls_client_cert_file',
    'tls_client_key_file'];

  let base = {};          // the profile as loaded: keys the form does not show are kept
  let portTyped = false;  // the person typed a port (or the file has one)
  let passwordDirty = false;
  let passwordMasked = false;
  let effectivePort = null; // the core's port for an untyped Port field
  let seq = 0;            // so that an older validation answer never overwrites a newer one
  let validateTimer = null;

  function status(text) {
    $('status').textContent = text;
  }

  async function api(method, path, body) {
    const init = { method, headers: { 'X-Relaykit-Token': token } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const type = resp.headers.get('Content-Type') || '';
    if (!type.includes('application/json')) {
      throw new Error(`${resp.status}: ${await resp.text()}`);
    }
    return resp.json();
  }

  // A JSON path of the core ($.password, options.relay_check.to) → the id of its control.
  function controlFor(path) {
    if (!path) return null;
    if (path === 'options.relay_check.from') return 'relay_from';
    if (path === 'options.relay_check.to') return 'relay_to';
    const key = path.startsWith('$.') ? path.slice(2) : null;
    if (key === 'password_encrypted') return 'password_encrypted';
    return key && $(key) ? key : null;
  }

  function clearMessages() {
    for (const el of document.querySelectorAll('.msg')) el.textContent = '';
    for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    $('warn-password').textContent = '';
  }

  // Shows `text` beside the field the core named (or under the form when it named none).
  function showAtField(path, text) {
    const id = controlFor(path);
    const msg = $(id ? `msg-${id}` : 'msg-form');
    msg.textContent = text;
    if (id) {
      $(id).setAttribute('aria-invalid', 'true');
      if (ADVANCED.includes(id)) $('advanced').open = true;
    }
    return id;
  }

  // The core's message, without the path it starts with when that path is the field's own.
  function messageFor(error, path) {
    let m = error.message || '';
    if (path && m.startsWith(`${path}: `)) m = m.slice(path.length + 2);
    return m;
  }

  function showWarnings(warnings) {
    for (const w of warnings || []) {
      if (w.field === '$.password') $('warn-password').textContent = w.message;
    }
  }

  function fill(profile) {
    base = profile || {};
    for (const k of TEXT) $(k).value = base[k] == null ? '' : String(base[k]);
    for (const k of CHECKS) $(k).checked = base[k] === true;
    for (const k of SELECTS) $(k).value = base[k] == null ? '' : String(base[k]);
    $('auth_mechanisms').value = Array.isArray(base.auth_mechanisms) ? base.auth_mechanisms.join(', ') : '';
    $('timeout_secs').value = base.timeout_secs == null ? '' : String(base.timeout_secs);
    portTyped = base.port != null;
    $('port').value = portTyped ? String(base.port) : '';
    $('password_encrypted').checked = base.password_encrypted === true;
    passwordDirty = false;
    passwordMasked = base.password_encrypted === true && base.password != null;
    $('password').value = base.password == null ? '' : String(base.password);
    passwordPresentation();
    enableAuth();
  }

  // Encrypted: typed text is hidden; a stored envelope shows as the core's asterisks.
  // Not encrypted: the password is neither encrypted nor hidden (the dialog's rule).
  function passwordPresentation() {
    const pw = $('password');
    const encrypted = $('password_encrypted').checked;
    pw.type = encrypted && !passwordMasked ? 'password' : 'text';
    $('pw-note').textContent = passwordMasked
      ? 'Stored encrypted; shown as asterisks. Type a new password to replace it.'
      : '';
  }

  function enableAuth() {
    const auth = $('requires_authentication').checked;
    const ntlm = $('use_ntlm_current_user').checked;
    for (const k of ['username', 'password', 'password_encrypted']) $(k).disabled = !auth || ntlm;
  }

  function numberOrText(v) {
    const t = v.trim();
    if (t === '') return undefined;
    return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
  }

  // The form as the §1 object (what the person left empty is left out: the core's default).
  function formRequest() {
    const p = { ...base };
    for (const k of TEXT) {
      const v = $(k).value;
      if (k === 'server') p.server = v;
      else if (v.trim() === '') delete p[k];
      else p[k] = v;
    }
    for (const k of CHECKS) p[k] = $(k).checked;
    for (const k of SELECTS) {
      if ($(k).value === '') delete p[k];
      else p[k] = $(k).value;
    }
    const mechs = $('auth_mechanisms').value.split(/[\s,]+/).filter((m) => m !== '');
    if (mechs.length) p.auth_mechanisms = mechs; else delete p.auth_mechanisms;
    const timeout = numberOrText($('timeout_secs').value);
    if (timeout === undefined) delete p.timeout_secs; else p.timeout_secs = timeout;
    const port = numberOrText($('port').value);
    if (portTyped && port !== undefined) p.port = port; else delete p.port;
    p.password_encrypted = $('password_encrypted').checked;
    delete p.password;
    if (passwordDirty) p.password = $('password').value;
    return { profile: p, keep_password: !passwordDirty };
  }

  function applyValidation(r) {
    clearMessages();
    if (r.effective_port != null) effectivePort = r.effective_port;
    showEffectivePort();
    if (r.profile && r.profile.requires_authentication === true && !$('requires_authentication').checked) {
      // What the core implied (NTLM as the current user is authentication).
      $('requires_authentication').checked = true;
      enableAuth();
    }
    if (!r.ok && r.error) showAtField(r.field, messageFor(r.error, r.field));
    showWarnings(r.warnings);
  }

  // An untyped Port shows the core's port; never while the person is in the field (a value
  // set under their caret would mix with what they type).
  function showEffectivePort() {
    const port = $('port');
    if (!portTyped && effectivePort != null && document.activeElement !== port) port.value = String(effectivePort);
  }

  async function validate() {
    const mine = ++seq;
    try {
      const r = await api('POST', '/api/validate', formRequest());
      if (mine === seq) applyValidation(r);
    } catch (e) {
      status(`Cannot reach relaykit: ${e.message}`);
    }
  }

  function validateSoon() {
    clearTimeout(validateTimer);
    validateTimer = setTimeout(validate, 250);
  }

  async function load() {
    try {
      const r = await api('GET', '/api/profile');
      $('file').textContent = r.file;
      $('file-state').textContent = r.exists ? '' : '(new: created on Save)';
      fillChoices(r.choices || {});
      fill(r.profile);
      clearMessages();
      if (!r.ok && r.error) showAtField(r.field, messageFor(r.error, r.field));
      await validate();
      status(r.exists ? 'Profile loaded.' : 'New profile.');
    } catch (e) {
      status(`Cannot load the profile: ${e.message}`);
    }
  }

  function fillChoices(choices) {
    for (const k of SELECTS) {
      const sel = $(k);
      for (const name of choices[k] || []) {
        const o = document.createElement('option');
        o.value = name;
        o.textContent = name;
        sel.appendChild(o);
      }
    }
    if (choices.auth_mechanisms) $('mechs-list').textContent = `Supported: ${choices.auth_mechanisms.join(', ')}`;
  }

  function relayCheck() {
    const from = $('relay_from').value.trim();
    const to = $('relay_to').value.trim();
    return from === '' && to === '' ? null : { from, to };
  }

  function dd(dl, term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const d = document.createElement('dd');
    d.textContent = value;
    dl.append(dt, d);
  }

  function renderReport(report, field) {
    $('results').hidden = false;
    const stages = report.stages || [];
    const total = stages.reduce((s, st) => s + st.ms, 0);
    $('verdict').textContent = report.ok
      ? `Test passed: ${stages.length} stages in ${total.toFixed(1)} ms.`
      : `Test failed${report.error && report.error.stage ? ` at ${report.error.stage}` : ''}.`;
    $('verdict').className = report.ok ? 'ok' : 'failed';

    const tl = $('timeline');
    tl.replaceChildren();
    const max = Math.max(...stages.map((s) => s.ms), 0.001);
    for (const st of stages) {
      const li = document.createElement('li');
      li.className = st.ok ? 'ok' : 'failed';
      const name = document.createElement('span');
      name.className = 'stage';
      name.textContent = st.name;
      const track = document.createElement('span');
      track.className = 'track';
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, (st.ms / max) * 100)}%`;
      track.appendChild(bar);
      const ms = document.createElement('span');
      ms.className = 'ms';
      ms.textContent = `${st.ms.toFixed(1)} ms ${st.ok ? 'ok' : 'failed'}`;
      li.append(name, track, ms);
      tl.appendChild(li);
    }

    const err = report.error;
    $('error-box').hidden = !err;
    const edl = $('error');
    edl.replaceChildren();
    if (err) {
      dd(edl, 'Kind', err.kind);
      if (err.stage) dd(edl, 'Stage', err.stage);
      if (err.code != null) dd(edl, 'Reply', `${err.code}${err.enhanced_code ? ` ${err.enhanced_code}` : ''}`);
      dd(edl, 'Message', err.message);
      if (err.hint) dd(edl, 'Hint', err.hint);
      showAtField(field, err.hint || err.message);
    }

    const tls = report.tls;
    $('tls-box').hidden = !tls;
    const tdl = $('tls');
    tdl.replaceChildren();
    if (tls) {
      dd(tdl, 'Version', tls.version);
      dd(tdl, 'Cipher', tls.cipher);
      dd(tdl, 'Subject', tls.subject);
      dd(tdl, 'Issuer', tls.issuer);
      dd(tdl, 'Expires', tls.not_after);
      dd(tdl, 'Verified', tls.verified ? 'yes' : `no${tls.verify_error ? `: ${tls.verify_error}` : ''}`);
    }

    const auth = report.auth;
    $('auth-box').hidden = !auth;
    const ol = $('attempts');
    ol.replaceChildren();
    if (auth) {
      $('auth-mechanism').textContent = auth.mechanism ? `Mechanism: ${auth.mechanism}` : 'No mechanism succeeded.';
      for (const a of auth.attempts || []) {
        const li = document.createElement('li');
        li.textContent = `${a.mechanism}: ${a.ok ? 'ok' : 'failed'}${a.code != null ? ` (${a.code})` : ''}`
          + `${a.message ? `: ${a.message}` : ''}`;
        ol.appendChild(li);
      }
    }

    const srv = report.server;
    $('server-box').hidden = !srv;
    const sdl = $('server-info');
    sdl.replaceChildren();
    if (srv) {
      dd(sdl, 'Banner', srv.banner);
      dd(sdl, 'Extensions', (srv.extensions || []).join(', '));
      if (srv.size_limit != null) dd(sdl, 'Size limit', String(srv.size_limit));
      dd(sdl, 'Mechanisms offered', (srv.auth_mechanisms || []).join(', '));
    }

    $('relay-box').hidden = !report.relay;
    if (report.relay) {
      $('relay-result').textContent = `${report.relay.ok ? 'Would relay' : 'Would not relay'} from `
        + `${report.relay.from} to ${report.relay.to}: ${report.relay.reply}`;
    }

    const warnings = report.warnings || [];
    $('warnings-box').hidden = warnings.length === 0;
    $('warnings').replaceChildren(...warnings.map((w) => {
      const li = document.createElement('li');
      li.textContent = w;
      return li;
    }));
  }

  async function runTest() {
    clearTimeout(validateTimer);
    seq++;
    const button = $('test');
    button.disabled = true;
    status('Testing…');
    try {
      const req = formRequest();
      req.relay_check = relayCheck();
      const r = await api('POST', '/api/test', req);
      clearMessages();
      showWarnings(r.warnings);
      if (r.report) {
        renderReport(r.report, r.field);
        const e = r.report.error;
        const relay = r.report.relay;
        let why = 'see the result';
        if (e) why = e.hint || e.message;
        else if (relay && !relay.ok) why = `the server would not relay: ${relay.reply}`;
        status(r.report.ok ? 'Test passed.' : `Test failed: ${why}`);
      } else {
        $('results').hidden = true;
        showAtField(r.field, messageFor(r.error, r.field));
        status(`Test could not run: ${r.error.message}`);
      }
    } catch (e) {
      status(`Test could not run: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function save() {
    clearTimeout(validateTimer);
    seq++;
    status('Saving…');
    try {
      const r = await api('POST', '/api/save', formRequest());
      if (r.ok) {
        await load();
        showWarnings(r.warnings);
        status(`Saved to ${r.file}.`);
      } else {
        clearMessages();
        if (r.error) showAtField(r.field, messageFor(r.error, r.field));
        status(`Not saved: ${r.error ? r.error.message : r.message}`);
      }
    } catch (e) {
      status(`Not saved: ${e.message}`);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('dialog').addEventListener('submit', (ev) => {
      ev.preventDefault();
      runTest();
    });
    $('save').addEventListener('click', save);
    $('port').addEventListener('blur', showEffectivePort);
    $('port').addEventListener('input', () => {
      portTyped = $('port').value.trim() !== '';
      validateSoon();
    });
    $('password').addEventListener('focus', () => {
      if (passwordMasked) $('password').select();
    });
    $('password').addEventListener('beforeinput', () => {
      // Typing into the asterisks replaces them: they stand for the envelope, not for text.
      if (passwordMasked) $('password').value = '';
    });
    $('password').addEventListener('input', () => {
      passwordDirty = true;
      if (passwordMasked) {
        passwordMasked = false;
        passwordPresentation();
      }
      validateSoon();
    });
    $('password_encrypted').addEventListener('change', () => {
      passwordPresentation();
      validate();
    });
    for (const k of ['requires_authentication', 'use_ntlm_current_user']) {
      $(k).addEventListener('change', () => {
        enableAuth();
        validate();
      });
    }
    for (const k of [...TEXT, 'auth_mechanisms', 'timeout_secs']) $(k).addEventListener('input', validateSoon);
    for (const k of [...CHECKS, ...SELECTS]) $(k).addEventListener('change', validate);
    if (!token) {
      status('This page needs the URL relaykit printed (with #token=…).');
      return;
    }
    load();
  });
}());
