// Tests an SMTP server profile, then sends a message with an attachment, using the C++17
// RAII header. Usage:
//   SMTP_PASSWORD=... test_and_send HOST PORT CA_FILE USER RECIPIENT
// (STARTTLS on PORT, verified against CA_FILE). Exits 0 when the message was accepted, 1 on
// a relaykit error (printed with its kind, stage, code and hint), 2 on bad usage.
#include <cstdlib>
#include <iostream>
#include <string>

#include "relaykit.hpp"

int main(int argc, char **argv) {
  const char *password = std::getenv("SMTP_PASSWORD");
  if (argc != 6 || password == nullptr) {
    std::cerr << "usage: SMTP_PASSWORD=... " << argv[0] << " HOST PORT CA_FILE USER RECIPIENT\n";
    return 2;
  }
  const std::string host = argv[1], port = argv[2], ca = argv[3], user = argv[4], rcpt = argv[5];
  try {
    relaykit::keyring keys;
    keys.generate_key();  // a real host loads its key: relaykit::keyring::from_env()
    relaykit::profile p = relaykit::profile::from_json(
        R"({"server": ")" + host + R"(", "port": )" + port + R"(, "encrypted_connection": true, "tls_ca_file": ")" +
        ca + R"("})");
    p.set_authentication(user).encrypt_password(password, keys);

    relaykit::report r = relaykit::test(p, keys);
    if (!r.ok()) {
      const relaykit::error e = *r.error();
      std::cerr << "test failed: " << e.kind() << " at " << e.stage() << " (" << e.code() << "): " << e.what()
                << "\nhint: " << e.hint() << "\n";
      return 1;
    }
    std::cout << "test ok: " << r.tls_version().value_or("no TLS") << ", "
              << r.auth_mechanism().value_or("no AUTH") << (r.tls_verified() ? ", verified" : "") << "\n";

    relaykit::message m(user);
    m.to(rcpt).subject("Hello from C++").text("See the attachment.\n").attach("hello.txt", "text/plain", "hello\n");
    relaykit::send_result s = relaykit::send(p, keys, m);
    std::cout << "sent " << s.message_id() << " to " << s.accepted().size() << " recipient(s): " << s.reply()
              << "\n";
    return 0;
  } catch (const relaykit::error &e) {
    std::cerr << "relaykit error: " << e.kind() << " stage=" << e.stage() << " code=" << e.code() << ": "
              << e.what() << "\n";
    if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
    return 1;
  }
}
