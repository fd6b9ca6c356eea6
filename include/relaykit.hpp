// relaykit for C++17: RAII over the C ABI in relaykit.h. Header-only; link as for C.
//
// Handles are move-only and free themselves. Every failure throws relaykit::error, which
// carries the kind, stage, SMTP reply code, enhanced code and hint. Strings are std::string
// (UTF-8) in and out. test(), send() and the mailer's send() block; see relaykit.h for the
// callback forms.
//
//   relaykit::keyring keys = relaykit::keyring::from_env();
//   relaykit::profile p = relaykit::profile::from_json(R"({"server": "smtp.example.com"})");
//   relaykit::report r = relaykit::test(p, keys);
//   if (!r.ok()) std::cerr << r.error()->what() << "\n";
#ifndef RELAYKIT_HPP
#define RELAYKIT_HPP

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "relaykit.h"

namespace relaykit {

namespace detail {
inline std::string str(const char *s) { return s != nullptr ? std::string(s) : std::string(); }
inline std::optional<std::string> opt(const char *s) {
  return s != nullptr ? std::optional<std::string>(s) : std::nullopt;
}
// Takes ownership of a string relaykit returned.
inline std::string take(char *s) {
  std::string out = str(s);
  rk_string_free(s);
  return out;
}
}  // namespace detail

// A relaykit failure: the status, the error kind ("auth_failed"), the stage ("auth"), the SMTP
// reply code (535, or 0), the enhanced code ("5.7.8"), a hint, whether it is transient (may
// succeed later), the message's fate (RK_FATE_UNKNOWN: perhaps delivered), the attempts a
// mailer made, and the §8 JSON. what() is the message.
class error : public std::runtime_error {
 public:
  explicit error(const rk_error *e)
      : std::runtime_error(e != nullptr ? detail::str(rk_error_message(e)) : "relaykit: unknown error"),
        status_(e != nullptr ? rk_error_status(e) : RK_INTERNAL),
        kind_(e != nullptr ? detail::str(rk_error_kind(e)) : "internal"),
        stage_(e != nullptr ? detail::str(rk_error_stage(e)) : ""),
        code_(e != nullptr ? rk_error_code(e) : 0),
        enhanced_code_(e != nullptr ? detail::str(rk_error_enhanced_code(e)) : ""),
        hint_(e != nullptr ? detail::str(rk_error_hint(e)) : ""),
        transient_(rk_error_transient(e)),
        fate_(rk_error_fate(e)),
        attempts_(rk_error_attempts(e)),
        json_(e != nullptr ? detail::str(rk_error_json(e)) : "{}") {}

  rk_status status() const noexcept { return status_; }
  const std::string &kind() const noexcept { return kind_; }
  const std::string &stage() const noexcept { return stage_; }  // empty when none
  std::uint16_t code() const noexcept { return code_; }          // 0 when the server sent none
  const std::string &enhanced_code() const noexcept { return enhanced_code_; }
  const std::string &hint() const noexcept { return hint_; }
  bool transient() const noexcept { return transient_; }
  rk_fate fate() const noexcept { return fate_; }
  std::uint32_t attempts() const noexcept { return attempts_; }  // 0 when not a mailer's send
  const std::string &json() const noexcept { return json_; }

 private:
  rk_status status_;
  std::string kind_, stage_;
  std::uint16_t code_;
  std::string enhanced_code_, hint_;
  bool transient_;
  rk_fate fate_;
  std::uint32_t attempts_;
  std::string json_;
};

namespace detail {
// Throws the calling thread's last error unless st is RK_OK.
inline void check(rk_status st) {
  if (st != RK_OK) throw error(rk_last_error());
}
inline const char *c_or_null(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

// A move-only owner of a relaykit handle.
template <class T, void (*Free)(T *)>
class handle {
 public:
  handle() noexcept = default;
  explicit handle(T *p) noexcept : p_(p) {}
  handle(const handle &) = delete;
  handle &operator=(const handle &) = delete;
  handle(handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  handle &operator=(handle &&o) noexcept {
    if (this != &o) {
      Free(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~handle() { Free(p_); }
  T *get() const noexcept { return p_; }

 protected:
  T *p_ = nullptr;
};
}  // namespace detail

// Password-encryption keys. Shareable between threads for reading.
class keyring : public detail::handle<rk_keyring, rk_keyring_free> {
 public:
  keyring() { detail::check(rk_keyring_new(&p_)); }  // empty
  static keyring from_env() { return keyring(make(rk_keyring_from_env)); }
  static keyring from_text(const std::string &text) {
    rk_keyring *k = nullptr;
    detail::check(rk_keyring_from_text(text.c_str(), &k));
    return keyring(k);
  }
  static keyring from_file(const std::string &path) {
    rk_keyring *k = nullptr;
    detail::check(rk_keyring_from_file(path.c_str(), &k));
    return keyring(k);
  }
  // Adds a random key as the newest and returns its id.
  std::string generate_key() {
    char *id = nullptr;
    detail::check(rk_keyring_generate_key(p_, &id));
    return detail::take(id);
  }
  std::string export_text() const {
    char *t = nullptr;
    detail::check(rk_keyring_export(p_, &t));
    return detail::take(t);
  }

 private:
  explicit keyring(rk_keyring *k) noexcept : handle(k) {}
  static rk_keyring *make(rk_status (*f)(rk_keyring **)) {
    rk_keyring *k = nullptr;
    detail::check(f(&k));
    return k;
  }
};

// Runtime replacement tag values. Shareable between threads for reading.
class rrt_context : public detail::handle<rk_rrt_context, rk_rrt_context_free> {
 public:
  rrt_context() { detail::check(rk_rrt_context_new(&p_)); }
  rrt_context &set(const std::string &id, const std::string &name, const std::string &value) {
    detail::check(rk_rrt_context_set(p_, RK_RRT_PLAIN, id.c_str(), name.c_str(), value.c_str()));
    return *this;
  }
  rrt_context &set_protected(const std::string &id, const std::string &name, const std::string &value) {
    detail::check(rk_rrt_context_set_protected(p_, id.c_str(), name.c_str(), value.c_str()));
    return *this;
  }
  rrt_context &set_restricted(const std::string &id, const std::string &name, const std::string &value) {
    detail::check(rk_rrt_context_set_restricted(p_, id.c_str(), name.c_str(), value.c_str()));
    return *this;
  }
};

// An SMTP server profile. One thread at a time.
class profile : public detail::handle<rk_profile, rk_profile_free> {
 public:
  explicit profile(const std::string &server) { detail::check(rk_profile_new(server.c_str(), &p_)); }
  static profile from_json(const std::string &json) {
    rk_profile *p = nullptr;
    detail::check(rk_profile_from_json(json.c_str(), &p));
    return profile(p);
  }
  std::string to_json() const {
    char *s = nullptr;
    detail::check(rk_profile_to_json(p_, &s));
    return detail::take(s);
  }
  void validate() const { detail::check(rk_profile_validate(p_)); }
  profile &set_port(std::uint32_t port) {
    detail::check(rk_profile_set_port(p_, port));
    return *this;
  }
  profile &clear_port() {
    detail::check(rk_profile_clear_port(p_));
    return *this;
  }
  std::uint16_t port() const noexcept { return rk_profile_port(p_); }
  profile &set_encrypted_connection(bool on) {
    detail::check(rk_profile_set_encrypted_connection(p_, on));
    return *this;
  }
  // Turns authentication on with a user name and no password yet (see encrypt_password).
  profile &set_authentication(const std::string &username) {
    detail::check(rk_profile_set_authentication(p_, true, username.c_str(), nullptr));
    return *this;
  }
  profile &encrypt_password(const std::string &plaintext, const keyring &keys) {
    detail::check(rk_profile_encrypt_password(p_, plaintext.c_str(), keys.get()));
    return *this;
  }
  bool password_encrypted() const noexcept { return rk_profile_password_encrypted(p_); }

 private:
  explicit profile(rk_profile *p) noexcept : handle(p) {}
};

// A message to send. One thread at a time.
class message : public detail::handle<rk_message, rk_message_free> {
 public:
  explicit message(const std::string &from) { detail::check(rk_message_new(from.c_str(), &p_)); }
  static message from_json(const std::string &json) {
    rk_message *m = nullptr;
    detail::check(rk_message_from_json(json.c_str(), &m));
    return message(m);
  }
  message &to(const std::string &a) { return add(RK_RCPT_TO, a); }
  message &cc(const std::string &a) { return add(RK_RCPT_CC, a); }
  message &bcc(const std::string &a) { return add(RK_RCPT_BCC, a); }
  message &reply_to(const std::string &a) { return add(RK_RCPT_REPLY_TO, a); }
  message &subject(const std::string &s) {
    detail::check(rk_message_set_subject(p_, s.c_str()));
    return *this;
  }
  message &text(const std::string &s) {
    detail::check(rk_message_set_text(p_, s.c_str()));
    return *this;
  }
  message &html(const std::string &s) {
    detail::check(rk_message_set_html(p_, s.c_str()));
    return *this;
  }
  message &header(const std::string &name, const std::string &value) {
    detail::check(rk_message_add_header(p_, name.c_str(), value.c_str()));
    return *this;
  }
  message &message_id(const std::string &id) {
    detail::check(rk_message_set_message_id(p_, id.c_str()));
    return *this;
  }
  message &attach(const std::string &filename, const std::string &content_type, const std::string &bytes) {
    detail::check(rk_message_attach_bytes(p_, filename.c_str(), detail::c_or_null(content_type),
                                          reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()));
    return *this;
  }
  message &attach_file(const std::string &path, const std::string &content_type = {}) {
    detail::check(rk_message_attach_file(p_, path.c_str(), detail::c_or_null(content_type)));
    return *this;
  }

 private:
  explicit message(rk_message *m) noexcept : handle(m) {}
  message &add(rk_recipient_kind k, const std::string &a) {
    detail::check(rk_message_add_recipient(p_, k, a.c_str()));
    return *this;
  }
};

// The result of a Test. A server-side failure is in it: ok() is false and error() says why.
class report : public detail::handle<rk_report, rk_report_free> {
 public:
  explicit report(rk_report *r) noexcept : handle(r) {}
  bool ok() const noexcept { return rk_report_ok(p_); }
  std::string json() const {
    char *s = nullptr;
    detail::check(rk_report_json(p_, &s));
    return detail::take(s);
  }
  std::optional<relaykit::error> error() const {
    const rk_error *e = rk_report_error(p_);
    return e != nullptr ? std::optional<relaykit::error>(relaykit::error(e)) : std::nullopt;
  }
  std::optional<std::string> auth_mechanism() const { return detail::opt(rk_report_auth_mechanism(p_)); }
  std::optional<std::string> tls_version() const { return detail::opt(rk_report_tls_version(p_)); }
  bool tls_verified() const noexcept { return rk_report_tls_verified(p_); }
  std::vector<std::string> warnings() const {
    std::vector<std::string> w;
    for (std::size_t i = 0; i < rk_report_warning_count(p_); i++) w.push_back(detail::str(rk_report_warning(p_, i)));
    return w;
  }
};

// A recipient the server refused.
struct rejection {
  std::string address;
  std::uint16_t code;
  std::string enhanced_code;
  std::string message;
};

namespace detail {
// The accessors of a send result, for the owning send_result and the borrowed send_result_view.
template <class Self>
class send_result_access {
 public:
  std::vector<std::string> accepted() const {
    std::vector<std::string> a;
    for (std::size_t i = 0; i < rk_send_result_accepted_count(r()); i++)
      a.push_back(str(rk_send_result_accepted(r(), i)));
    return a;
  }
  std::vector<rejection> rejected() const {
    std::vector<rejection> out;
    for (std::size_t i = 0; i < rk_send_result_rejected_count(r()); i++)
      out.push_back({str(rk_send_result_rejected_address(r(), i)), rk_send_result_rejected_code(r(), i),
                     str(rk_send_result_rejected_enhanced_code(r(), i)), str(rk_send_result_rejected_message(r(), i))});
    return out;
  }
  std::string message_id() const { return str(rk_send_result_message_id(r())); }
  std::string reply() const { return str(rk_send_result_reply(r())); }
  // 1, or more when a mailer retried it after a transient failure.
  std::uint32_t attempts() const { return rk_send_result_attempts(r()); }
  std::string json() const {
    char *s = nullptr;
    check(rk_send_result_json(r(), &s));
    return take(s);
  }

 private:
  const rk_send_result *r() const noexcept { return static_cast<const Self *>(this)->get(); }
};
}  // namespace detail

// The result of a successful Send.
class send_result : public detail::handle<rk_send_result, rk_send_result_free>,
                    public detail::send_result_access<send_result> {
 public:
  explicit send_result(rk_send_result *r) noexcept : handle(r) {}
};

// A send result owned by something else (send_outcomes): valid while its owner lives.
class send_result_view : public detail::send_result_access<send_result_view> {
 public:
  explicit send_result_view(const rk_send_result *r) noexcept : p_(r) {}
  const rk_send_result *get() const noexcept { return p_; }

 private:
  const rk_send_result *p_;
};

// What mailer::send_many returns: one outcome per message, in order. Each is ok(i) with
// result(i), or failed with error(i) (a bad message fails alone). Read-only: may be shared
// between threads.
class send_outcomes : public detail::handle<rk_send_outcomes, rk_send_outcomes_free> {
 public:
  explicit send_outcomes(rk_send_outcomes *o) noexcept : handle(o) {}
  std::size_t size() const noexcept { return rk_send_outcomes_count(p_); }
  rk_status status(std::size_t i) const noexcept { return rk_send_outcomes_status(p_, i); }
  bool ok(std::size_t i) const noexcept { return status(i) == RK_OK; }
  // Message i's result (valid while this object lives), or nullopt when it failed.
  std::optional<send_result_view> result(std::size_t i) const {
    const rk_send_result *r = rk_send_outcomes_result(p_, i);
    return r != nullptr ? std::optional<send_result_view>(send_result_view(r)) : std::nullopt;
  }
  // Message i's error (a copy), or nullopt when it was sent.
  std::optional<relaykit::error> error(std::size_t i) const {
    const rk_error *e = rk_send_outcomes_error(p_, i);
    return e != nullptr ? std::optional<relaykit::error>(relaykit::error(e)) : std::nullopt;
  }
};

// Tests the profile. Blocks. Throws only for invalid input; a server-side failure is in the
// report. options_json: "" for defaults, or e.g. {"relay_check": {"from": "...", "to": "..."}}.
inline report test(const profile &p, const keyring &keys, const rrt_context *ctx = nullptr,
                   const std::string &options_json = {}) {
  rk_report *r = nullptr;
  detail::check(rk_test(p.get(), keys.get(), ctx != nullptr ? ctx->get() : nullptr,
                        detail::c_or_null(options_json), &r));
  return report(r);
}

// Sends the message. Blocks. Throws relaykit::error for any failure.
inline send_result send(const profile &p, const keyring &keys, const message &m, const rrt_context *ctx = nullptr,
                        const std::string &options_json = {}) {
  rk_send_result *r = nullptr;
  detail::check(rk_send(p.get(), keys.get(), ctx != nullptr ? ctx->get() : nullptr, m.get(),
                        detail::c_or_null(options_json), &r));
  return send_result(r);
}

// Many messages to one server over a few kept-open connections (rk_mailer). The profile is
// resolved now (bad options or profile throw here, naming the field); no connection opens
// before the first send. Unlike the other handles, one mailer may be used from several threads
// at once. options_json: "" for defaults, or e.g. {"max_connections": 4, "retry":
// {"max_attempts": 5}, "rate_limit": {"messages": 10, "per_secs": 1}}.
class mailer : public detail::handle<rk_mailer, rk_mailer_free> {
 public:
  explicit mailer(const profile &p, const keyring &keys, const rrt_context *ctx = nullptr,
                  const std::string &options_json = {}) {
    detail::check(rk_mailer_new(p.get(), keys.get(), ctx != nullptr ? ctx->get() : nullptr,
                                detail::c_or_null(options_json), &p_));
  }
  // Sends the message. Blocks. Throws relaykit::error for any failure (a bad message fails
  // alone; the mailer stays usable).
  send_result send(const message &m) const {
    rk_send_result *r = nullptr;
    detail::check(rk_mailer_send(p_, m.get(), &r));
    return send_result(r);
  }
  // Sends every message, pipelined; one outcome per message, in order. Blocks until all have
  // theirs. Throws only for invalid arguments: a message that fails is in the outcomes.
  send_outcomes send_many(const std::vector<message> &messages) const {
    std::vector<const rk_message *> raw;
    raw.reserve(messages.size());
    for (const message &m : messages) raw.push_back(m.get());
    rk_send_outcomes *o = nullptr;
    detail::check(rk_mailer_send_many(p_, raw.data(), raw.size(), &o));
    return send_outcomes(o);
  }
  // Waits for the messages queued or in flight, then QUITs every connection; later sends
  // throw. Blocks.
  void close() const { detail::check(rk_mailer_close(p_)); }
  // {"sent": n, "failed": n, "retried": n, "reconnects": n, "connections_opened": n,
  //  "open_connections": n, "queued": n}
  std::string stats_json() const {
    char *s = nullptr;
    detail::check(rk_mailer_stats_json(p_, &s));
    return detail::take(s);
  }
};

// The OAuth2 token provider (rk_set_token_callback): provider(username, refresh) returns an
// access token for OAUTHBEARER/XOAUTH2; refresh is true when the server has just rejected the
// one it gave. It runs on relaykit threads, possibly several at once. An exception it throws
// fails the login (relaykit::error, kind "auth_failed", naming the token provider and what()).
// Process-wide, like the C callback: every test(), send() and mailer made afterwards uses it;
// an empty function removes it. Calls already running keep the provider they started with.
using token_provider = std::function<std::string(const std::string &username, bool refresh)>;

namespace detail {
inline std::mutex &token_lock() {
  static std::mutex m;
  return m;
}
inline std::shared_ptr<token_provider> &token_slot() {
  static std::shared_ptr<token_provider> slot;
  return slot;
}
// The C callback: the provider kept alive by its shared_ptr (user) while a call uses it.
inline int32_t token_trampoline(void *user, const char *username, int32_t refresh, char *buf, size_t cap) {
  auto *keep = static_cast<std::shared_ptr<token_provider> *>(user);
  std::shared_ptr<token_provider> f;
  {
    std::lock_guard<std::mutex> g(token_lock());
    f = *keep;
  }
  if (!f) {
    std::snprintf(buf, cap, "no token provider is set");
    return 1;
  }
  try {
    std::string t = (*f)(username != nullptr ? username : "", refresh != 0);
    if (t.size() + 1 > cap) return 2;
    std::memcpy(buf, t.c_str(), t.size() + 1);
    std::fill(t.begin(), t.end(), '\0');
    return 0;
  } catch (const std::exception &e) {
    std::snprintf(buf, cap, "%s", e.what());
    return 1;
  } catch (...) {
    return 1;
  }
}
}  // namespace detail

inline void set_token_provider(token_provider provider) {
  // The slot lives for the process; the callback copies it under the lock, so replacing the
  // provider while a login runs is safe (that login keeps the copy it took).
  std::lock_guard<std::mutex> g(detail::token_lock());
  if (!provider) {
    detail::check(rk_set_token_callback(nullptr, nullptr));
    detail::token_slot().reset();
    return;
  }
  detail::token_slot() = std::make_shared<token_provider>(std::move(provider));
  detail::check(rk_set_token_callback(detail::token_trampoline, &detail::token_slot()));
}

inline std::string version() { return rk_version(); }

}  // namespace relaykit

#endif  // RELAYKIT_HPP
