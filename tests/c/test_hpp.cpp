// The C++17 header without a network: RAII moves, exceptions carrying the error detail.
// Built with g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror under ASan+UBSan by tests/c/run.sh.
#include <cstdio>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "relaykit.hpp"

static int passed, failed;
#define CHECK(c)                                                      \
  do {                                                                \
    if (c) {                                                          \
      passed++;                                                       \
    } else {                                                          \
      failed++;                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
    }                                                                 \
  } while (0)

static_assert(!std::is_copy_constructible<relaykit::profile>::value, "handles are move-only");
static_assert(!std::is_copy_assignable<relaykit::keyring>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<relaykit::message>::value, "moves do not throw");
static_assert(!std::is_copy_constructible<relaykit::mailer>::value, "a mailer is move-only");
static_assert(!std::is_copy_assignable<relaykit::mailer>::value, "a mailer is move-only");
static_assert(std::is_nothrow_move_assignable<relaykit::mailer>::value, "moves do not throw");

int main() {
  CHECK(relaykit::version() == rk_version());

  relaykit::profile p = relaykit::profile::from_json(R"({"server": "smtp.example.com", "port": 587})");
  CHECK(p.port() == 587);
  relaykit::profile q = std::move(p);
  CHECK(p.get() == nullptr);  // NOLINT: moved-from is empty by design
  CHECK(q.port() == 587);
  p = relaykit::profile("other.example.com");
  CHECK(p.port() == 25);

  try {
    relaykit::profile::from_json(R"({"server": "x", "prot": 1})");
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(e.status() == RK_CONFIG);
    CHECK(e.kind() == "config");
    CHECK(std::string(e.what()).find("$.prot") != std::string::npos);
    CHECK(e.code() == 0);
    CHECK(e.json().find("\"kind\":\"config\"") != std::string::npos);
  }

  relaykit::keyring keys;
  std::string kid = keys.generate_key();
  CHECK(!kid.empty());
  q.set_authentication("user@example.com").encrypt_password("s3cret", keys);
  CHECK(q.password_encrypted());
  CHECK(q.to_json().find("s3cret") == std::string::npos);

  relaykit::rrt_context ctx;
  ctx.set("ACC", "Host", "smtp.example.com").set_protected("ACC", "$pin", "1234");
  try {
    ctx.set("", "x", "y");
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(e.kind() == "rrt" || e.kind() == "config");
  }

  relaykit::message m("a@example.com");
  m.to("b@example.com").cc("c@example.com").subject("s").text("t").attach("x.bin", "", std::string("\0\1\2", 3));
  try {
    // Invalid input fails before any connection: a missing key for the encrypted password.
    relaykit::keyring empty;
    relaykit::test(q, empty);
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(e.kind() == "crypto");
  }

  // A mailer opens no connection before its first send, so this needs no server.
  try {
    relaykit::mailer bad(q, keys, nullptr, R"({"max_connections": 0})");
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(e.kind() == "config");
    CHECK(std::string(e.what()).rfind("options.max_connections:", 0) == 0);
  }
  relaykit::mailer mailer(q, keys, nullptr, R"({"max_connections": 3})");
  CHECK(mailer.stats_json().find("\"connections_opened\":0") != std::string::npos);
  try {
    // A bad message fails alone, before any connection.
    relaykit::message bad("a@example.com");
    bad.to("b@example.com").subject("x\r\nBcc: c@example.com");
    mailer.send(bad);
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(std::string(e.what()).rfind("message.subject:", 0) == 0);
  }
  {
    // send_many: the bad message's outcome is its error; nothing is thrown.
    std::vector<relaykit::message> batch;
    batch.push_back(relaykit::message("a@example.com"));
    batch.back().to("b@example.com").subject("x\nBcc: c@example.com");
    relaykit::send_outcomes out = mailer.send_many(batch);
    CHECK(out.size() == 1);
    CHECK(!out.ok(0) && out.status(0) == RK_CONFIG);
    CHECK(!out.result(0).has_value());
    std::optional<relaykit::error> e = out.error(0);
    CHECK(e.has_value() && std::string(e->what()).rfind("message.subject:", 0) == 0);
    CHECK(e.has_value() && !e->transient() && e->fate() == RK_FATE_REJECTED);
    CHECK(out.status(1) == RK_INVALID_ARGUMENT && !out.error(1).has_value());  // out of range
    CHECK(mailer.send_many({}).size() == 0);
  }
  relaykit::mailer moved = std::move(mailer);
  CHECK(mailer.get() == nullptr);  // NOLINT: moved-from is empty by design
  CHECK(moved.stats_json().find("\"failed\":2") != std::string::npos);
  CHECK(moved.stats_json().find("\"retried\":0") != std::string::npos);
  moved.close();
  {
    std::vector<relaykit::message> batch;
    batch.push_back(relaykit::message("a@example.com"));
    batch.back().to("b@example.com").text("x");
    relaykit::send_outcomes out = moved.send_many(batch);
    CHECK(out.size() == 1 && out.status(0) == RK_CONFIG);
    CHECK(out.error(0).has_value() && std::string(out.error(0)->what()).find("closed") != std::string::npos);
  }
  try {
    moved.send(m);
    CHECK(false);
  } catch (const relaykit::error &e) {
    CHECK(e.status() == RK_CONFIG);
    CHECK(std::string(e.what()).find("closed") != std::string::npos);
  }
  mailer = std::move(moved);  // move-assigning into an empty one, freed once
  CHECK(mailer.get() != nullptr);

  // The token provider: a std::function behind the C callback (its trampoline called here as
  // relaykit calls it: the token, or the exception's what() as the failure's message).
  relaykit::set_token_provider([](const std::string &user, bool refresh) -> std::string {
    if (user == "bad") throw std::runtime_error("issuer down");
    return (refresh ? "fresh-" : "first-") + user;
  });
  char buf[RK_TOKEN_CAPACITY];
  void *slot = &relaykit::detail::token_slot();
  CHECK(relaykit::detail::token_trampoline(slot, "alice", 0, buf, sizeof buf) == 0 && std::string(buf) == "first-alice");
  CHECK(relaykit::detail::token_trampoline(slot, "alice", 1, buf, sizeof buf) == 0 && std::string(buf) == "fresh-alice");
  CHECK(relaykit::detail::token_trampoline(slot, "bad", 0, buf, sizeof buf) == 1 && std::string(buf) == "issuer down");
  CHECK(relaykit::detail::token_trampoline(slot, "alice", 0, buf, 4) == 2);  // does not fit
  relaykit::set_token_provider(nullptr);
  CHECK(relaykit::detail::token_trampoline(slot, "alice", 0, buf, sizeof buf) == 1);

  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
