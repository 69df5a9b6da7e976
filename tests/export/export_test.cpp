// Court export bundles end to end through the real `tillid` program: export → verify-export,
// the common-tool checks README.txt promises (sha256sum, openssl), one tampering per section,
// logging of the export, failures that leave nothing behind, and the committed bundle.
#include <sodium.h>

#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include "cli_fixture.hpp"
#include "tillid/access_log.hpp"
#include "tillid/export.hpp"
#include "tillid/vault.hpp"

using namespace tillid::test;
using ojson = nlohmann::ordered_json;

namespace {
const bool sodium_ready = sodium_init() >= 0;
}  // namespace

namespace {

// A vault made through `tillid`, with one case and one exported document.
struct Bundle : CliVault {
  fs::path input;
  fs::path dir = tmp / "court-bundle";
  std::string id;
  std::string content;  // content file name in the bundle

  explicit Bundle(const std::string& file_name = "Afhoering journal.pdf", std::uint64_t size = 70 * 1024 + 3) {
    REQUIRE(tillid({"case", "add", "--number", "BH-2026-0042", "--municipality", "0101", "--fields",
                    fields({{"child_name", "Testbarn Zyxwvu"}, {"cpr", "010203-9999"}})}).exit_code == 0);
    input = tmp / file_name;
    write_random_file(input, size, 7);
    id = json({"doc", "add", "--case", "BH-2026-0042", input.string()})["id"].get<std::string>();
    auto r = tillid({"export", id, "--out", dir.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    content = manifest()["item"]["content_file"].get<std::string>();
  }

  ojson manifest() const { return ojson::parse(read_file(dir / "manifest.json")); }
  void write_manifest(const ojson& j) const { write_file(dir / "manifest.json", j.dump(2) + "\n"); }
  std::string verifier_key() const { return manifest()["appliance"]["verifier_key"].get<std::string>(); }
};

RunResult verify_export(const fs::path& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{tillid_program().string(), "verify-export"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(dir.string());
  return run(argv);
}

void flip_byte(const fs::path& p, std::size_t at) {
  auto s = read_file(p);
  REQUIRE(at < s.size());
  s[at] = static_cast<char>(s[at] ^ 0x01);
  write_file(p, s);
}

std::string b64(const unsigned char* p, std::size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), p, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}
std::vector<unsigned char> unb64(const std::string& s) {
  std::vector<unsigned char> out(s.size());
  std::size_t len = 0;
  sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL);
  out.resize(len);
  return out;
}

// Expect verify-export to fail (exit 1) and to name the problem.
void expect_rejected(const RunResult& r, const std::string& names) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("FAILED") != std::string::npos);
  CHECK(r.out.find(names) != std::string::npos);
}

// Re-sign everything in a bundle with a key the forger owns: manifest.bin, the checkpoint,
// manifest.json, and rewrite SHA256SUMS. A complete forgery that only an independent key catches.
void forge_with_new_key(const Bundle& b) {
  unsigned char pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  auto sign = [&](const std::string& msg) {
    unsigned char sig[64];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    return std::string(reinterpret_cast<char*>(sig), 64);
  };
  ojson j = b.manifest();
  const std::string manifest_bin = read_file(b.dir / "manifest.bin");
  write_file(b.dir / "manifest.sig", sign(manifest_bin));
  // C2SP signed note: key id = SHA-256(name || '\n' || 0x01 || pk)[0..4].
  const std::string origin = j["access_log"]["origin"].get<std::string>();
  std::string note = j["access_log"]["checkpoint"].get<std::string>();
  const std::string body = note.substr(0, note.find("\n\n") + 1);
  std::string id_input = origin + "\n" + std::string(1, '\x01') + std::string(reinterpret_cast<char*>(pk), 32);
  unsigned char h[32];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(id_input.data()), id_input.size());
  std::string keyid_sig = std::string(reinterpret_cast<char*>(h), 4) + sign(body);
  note = body + "\n\xe2\x80\x94 " + origin + " " +
         b64(reinterpret_cast<const unsigned char*>(keyid_sig.data()), keyid_sig.size()) + "\n";
  write_file(b.dir / "checkpoint.txt", note);
  const std::array<unsigned char, 32> pk_arr = [&] {
    std::array<unsigned char, 32> a{};
    std::copy(pk, pk + 32, a.begin());
    return a;
  }();
  const unsigned char spki_prefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  std::string der(reinterpret_cast<const char*>(spki_prefix), 12);
  der += std::string(reinterpret_cast<char*>(pk), 32);
  write_file(b.dir / "appliance.pem", "-----BEGIN PUBLIC KEY-----\n" +
                                          b64(reinterpret_cast<const unsigned char*>(der.data()), der.size()) +
                                          "\n-----END PUBLIC KEY-----\n");
  j["appliance"]["public_key_hex"] = tillid::to_hex(pk_arr);
  j["appliance"]["public_key_base64"] = b64(pk, 32);
  j["appliance"]["verifier_key"] = tillid::log_verifier_key(origin, pk_arr);
  const std::string sig = read_file(b.dir / "manifest.sig");
  j["item_manifest"]["signature_base64"] = b64(reinterpret_cast<const unsigned char*>(sig.data()), 64);
  j["access_log"]["checkpoint"] = note;
  for (auto& f : j["files"]) {
    const std::string name = f["name"].get<std::string>();
    f["sha256"] = sha256sum(b.dir / name);
    f["size"] = fs::file_size(b.dir / name);
  }
  b.write_manifest(j);
  write_file(b.dir / "manifest.json.sig", sign(read_file(b.dir / "manifest.json")));
  REQUIRE(shell("cd '" + b.dir.string() + "' && sha256sum '" + b.content +
                "' manifest.bin manifest.sig appliance.pem checkpoint.txt README.txt manifest.json manifest.json.sig "
                "> SHA256SUMS").exit_code == 0);
}

}  // namespace

TEST_CASE("export writes a bundle that verify-export, sha256sum and openssl accept", "[export]") {
  Bundle b;
  CHECK(b.content == "Afhoering journal.pdf");
  CHECK(read_file(b.dir / b.content) == read_file(b.input));
  auto m = b.manifest();
  CHECK(m["format"] == "tillid-export");
  CHECK(m["version"] == 2);
  CHECK(m["item"]["id"] == b.id);
  CHECK(m["item"]["sha256"] == sha256sum(b.input));
  CHECK(m["item"]["sha256"] == sha256sum(b.dir / b.content));
  CHECK(m["item"]["size"] == fs::file_size(b.input));
  CHECK(m["case"]["case_number"] == "BH-2026-0042");
  CHECK(m["case"]["municipality"] == "0101");
  // Proofs for every entry about the item, the export's own entry included.
  const auto& entries = m["access_log"]["entries"];
  REQUIRE(entries.size() >= 2);
  CHECK(entries[0]["action"] == "item_added");
  CHECK(entries.back()["action"] == "export_made");
  CHECK(entries.back()["outcome"] == "ok");
  CHECK(entries.back()["inclusion_proof"]["tree_size"] == m["access_log"]["tree_size"]);
  CHECK(read_file(b.dir / "checkpoint.txt") == m["access_log"]["checkpoint"].get<std::string>());

  // The child's name and CPR number are never exported.
  CHECK(files_containing(b.dir, "Zyxwvu").empty());
  CHECK(files_containing(b.dir, "010203-9999").empty());
  CHECK(files_containing(b.dir, "0102039999").empty());
  // Nothing but the bundle beside it: the staging directory is gone.
  for (const auto& e : fs::directory_iterator(b.tmp.path()))
    CHECK(e.path().filename().string().find("tillid-export") == std::string::npos);

  auto r = verify_export(b.dir);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK:") != std::string::npos);
  CHECK(r.out.find("WARNING") != std::string::npos);  // key only self-asserted
  CHECK(r.out.find("only asserted by the bundle") != std::string::npos);

  auto pinned = verify_export(b.dir, {"--key", b.verifier_key()});
  INFO(pinned.out << pinned.err);
  CHECK(pinned.exit_code == 0);
  CHECK(pinned.out.find("WARNING") == std::string::npos);
  CHECK(pinned.out.find("matches the key given") != std::string::npos);
  auto by_hex = verify_export(b.dir, {"--key", m["appliance"]["public_key_hex"].get<std::string>()});
  CHECK(by_hex.exit_code == 0);
  auto by_pem = verify_export(b.dir, {"--key-file", (b.dir / "appliance.pem").string()});
  CHECK(by_pem.exit_code == 0);

  auto js = nlohmann::json::parse(
      run({tillid_program().string(), "--json", "verify-export", "--key", b.verifier_key(), b.dir.string()}).out);
  CHECK(js["ok"] == true);
  CHECK(js["key_pinned"] == true);
  CHECK(js["log_entries"] == entries.size());

  auto sums = shell("cd '" + b.dir.string() + "' && sha256sum -c SHA256SUMS");
  INFO(sums.out << sums.err);
  CHECK(sums.exit_code == 0);
  CHECK(sums.out.find(b.content + ": OK") != std::string::npos);
  CHECK(sums.out.find("manifest.json: OK") != std::string::npos);

  // Every openssl command README.txt gives works as written.
  const std::string readme = read_file(b.dir / "README.txt");
  CHECK(readme.find("DANSK") != std::string::npos);
  CHECK(readme.find("ENGLISH") != std::string::npos);
  CHECK(readme.find("sha256sum -c SHA256SUMS") != std::string::npos);
  CHECK(readme.find("tillid verify-export") != std::string::npos);
  std::set<std::string> commands;
  std::istringstream lines(readme);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find("openssl pkeyutl");
    if (at != std::string::npos) commands.insert(line.substr(at));
  }
  REQUIRE(commands.size() == 2);
  for (const auto& cmd : commands) {
    auto ok = shell("cd '" + b.dir.string() + "' && " + cmd);
    INFO(cmd << "\n" << ok.out << ok.err);
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("Signature Verified Successfully") != std::string::npos);
  }
  // ... and openssl notices a changed manifest.
  flip_byte(b.dir / "manifest.bin", 40);
  auto bad = shell("cd '" + b.dir.string() + "' && " + *commands.begin());
  CHECK(bad.exit_code != 0);
}

TEST_CASE("a tampered bundle fails verify-export naming the problem", "[export]") {
  Bundle b;
  const auto dir = b.dir;
  ojson m = b.manifest();
  auto& entries = m["access_log"]["entries"];

  SECTION("flipped content byte") {
    flip_byte(dir / b.content, 1000);
    expect_rejected(verify_export(dir), b.content + ": SHA-256 is");
    CHECK(shell("cd '" + dir.string() + "' && sha256sum -c SHA256SUMS").exit_code != 0);
  }
  SECTION("truncated content") {
    write_file(dir / b.content, read_file(dir / b.content).substr(10));
    expect_rejected(verify_export(dir), b.content + ": size is");
  }
  SECTION("edited size") {
    m["item"]["size"] = m["item"]["size"].get<std::uint64_t>() + 1;
    b.write_manifest(m);
    auto r = verify_export(dir);
    expect_rejected(r, "item.size");
    CHECK(r.out.find("manifest.json.sig") != std::string::npos);
  }
  SECTION("edited sha256 (content replaced to match)") {
    write_random_file(dir / b.content, m["item"]["size"].get<std::uint64_t>(), 99);
    m["item"]["sha256"] = sha256sum(dir / b.content);
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "item.sha256");
  }
  SECTION("edited case id") {
    m["case"]["id"] = "00112233445566778899aabbccddeeff";
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "case.id");
  }
  SECTION("edited case number (bound only by manifest.json.sig)") {
    m["case"]["case_number"] = "BH-2026-0043";
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "manifest.json.sig: the appliance's signature over manifest.json does not verify");
  }
  SECTION("edited creation time") {
    m["item"]["created_unix"] = m["item"]["created_unix"].get<std::int64_t>() - 3600;
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "item.created_unix");
  }
  SECTION("swapped public key") {
    unsigned char pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    std::array<unsigned char, 32> a{};
    std::copy(pk, pk + 32, a.begin());
    m["appliance"]["public_key_hex"] = tillid::to_hex(a);
    m["appliance"]["public_key_base64"] = b64(pk, 32);
    b.write_manifest(m);
    auto r = verify_export(dir);
    expect_rejected(r, "appliance.pem holds a different key");
    CHECK(r.out.find("signature over the item manifest") != std::string::npos);
    CHECK(r.out.find("checkpoint does not verify") != std::string::npos);
  }
  SECTION("a bundle re-signed by another key passes alone, but not with --key") {
    const std::string real_key = b.verifier_key();
    forge_with_new_key(b);
    auto alone = verify_export(dir);
    INFO(alone.out << alone.err);
    CHECK(alone.exit_code == 0);  // consistent in itself ...
    CHECK(alone.out.find("only asserted by the bundle") != std::string::npos);  // ... and says so
    expect_rejected(verify_export(dir, {"--key", real_key}), "is not the key you gave");
  }
  SECTION("edited readable log field") {
    entries[0]["actor_id"] = "someone-else";
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "field actor_id (someone-else) differs from the proven entry bytes");
  }
  SECTION("edited log entry bytes") {
    auto bytes = unb64(entries[0]["entry_base64"].get<std::string>());
    auto e = tillid::decode_log_entry(bytes);
    REQUIRE(e.ok());
    tillid::LogEntry edited = e.value();
    edited.actor_id = "mallory";
    entries[0]["entry_base64"] = [&] {
      auto enc = tillid::encode_log_entry(edited);
      return b64(enc.data(), enc.size());
    }();
    entries[0]["actor_id"] = "mallory";
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "access-log entry " + std::to_string(e->seq) +
                                            ": its inclusion proof does not lead");
  }
  SECTION("broken inclusion proof") {
    auto& last = entries.back();
    REQUIRE(!last["inclusion_proof"]["path"].empty());
    auto h = unb64(last["inclusion_proof"]["path"][0].get<std::string>());
    h[5] ^= 0x80;
    last["inclusion_proof"]["path"][0] = b64(h.data(), h.size());
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "its inclusion proof does not lead to the signed checkpoint's root");
  }
  SECTION("forged checkpoint signature") {
    std::string note = m["access_log"]["checkpoint"].get<std::string>();
    // Keep the key id (first 4 bytes of the decoded signature field), change the signature.
    const auto line_at = note.find("\xe2\x80\x94 ");
    const auto b64_at = note.find(' ', line_at + 4) + 1;
    auto sig = unb64(note.substr(b64_at, note.size() - b64_at - 1));
    REQUIRE(sig.size() == 68);
    sig[20] ^= 0x01;
    note = note.substr(0, b64_at) + b64(sig.data(), sig.size()) + "\n";
    m["access_log"]["checkpoint"] = note;
    b.write_manifest(m);
    write_file(dir / "checkpoint.txt", note);
    expect_rejected(verify_export(dir), "the access-log checkpoint does not verify under the appliance key");
  }
  SECTION("log entry about another item") {
    entries[0]["item_id"] = "00112233445566778899aabbccddeeff";
    auto bytes = unb64(entries[0]["entry_base64"].get<std::string>());
    auto e = tillid::decode_log_entry(bytes);
    REQUIRE(e.ok());
    tillid::LogEntry other = e.value();
    other.item_id = "00112233445566778899aabbccddeeff";
    auto enc = tillid::encode_log_entry(other);
    entries[0]["entry_base64"] = b64(enc.data(), enc.size());
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "not the exported item");
  }
  SECTION("export entry removed") {
    entries.erase(entries.size() - 1);
    b.write_manifest(m);
    expect_rejected(verify_export(dir), "no successful export_made entry");
  }
  for (const char* name : {"manifest.sig", "manifest.bin", "appliance.pem", "checkpoint.txt", "manifest.json.sig",
                           "SHA256SUMS", "README.txt"}) {
    DYNAMIC_SECTION("removed " << name) {
      fs::remove(dir / name);
      expect_rejected(verify_export(dir), std::string(name) + " is missing from the bundle");
    }
  }
  SECTION("removed content file") {
    fs::remove(dir / b.content);
    expect_rejected(verify_export(dir), b.content + " is missing from the bundle");
  }
  SECTION("removed manifest.json") {
    fs::remove(dir / "manifest.json");
    expect_rejected(verify_export(dir), "manifest.json is missing from the bundle");
  }
  SECTION("edited README.txt") {
    write_file(dir / "README.txt", read_file(dir / "README.txt") + "Trust me.\n");
    expect_rejected(verify_export(dir), "README.txt was altered");
  }
}

TEST_CASE("verify-export refuses bad calls with usage errors", "[export]") {
  Bundle b;
  CHECK(verify_export(b.tmp / "nope").exit_code == 4);
  CHECK(verify_export(b.dir, {"--key", "not a key"}).exit_code == 2);
  CHECK(verify_export(b.dir, {"--key-file", (b.tmp / "absent.pem").string()}).exit_code == 4);
  // A verifier key whose key id does not match its name and key is refused, not ignored.
  std::string k = b.verifier_key();
  const auto p = k.find('+');
  k[p + 1] = k[p + 1] == '0' ? '1' : '0';
  CHECK(verify_export(b.dir, {"--key", k}).exit_code == 2);
}

TEST_CASE("the export is logged, a failed export leaves nothing behind", "[export]") {
  Bundle b;
  const auto log_dir = b.vault / "log";
  auto exports = [&](tillid::LogOutcome outcome) {
    tillid::LogQuery q;
    q.item_id = b.id;
    auto entries = tillid::read_log_entries(log_dir, q);
    REQUIRE(entries.ok());
    std::size_t n = 0;
    for (const auto& e : *entries)
      if (e.action == tillid::LogAction::export_made && e.outcome == outcome) ++n;
    return n;
  };
  CHECK(exports(tillid::LogOutcome::ok) == 1);
  CHECK(exports(tillid::LogOutcome::failed) == 0);

  auto siblings = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(b.tmp.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto before = siblings();

  SECTION("the target exists and is not empty") {
    const auto content_before = tree_fingerprint(b.dir);
    auto r = b.tillid({"export", b.id, "--out", b.dir.string()});
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("not an empty directory") != std::string::npos);
    CHECK(tree_fingerprint(b.dir) == content_before);
    CHECK(siblings() == before);
    CHECK(exports(tillid::LogOutcome::ok) == 1);
    // The client checks its own destination before it asks the daemon: nothing was decrypted,
    // so there is no export attempt to record.
    CHECK(exports(tillid::LogOutcome::failed) == 0);
  }
  SECTION("the target is a file") {
    write_file(b.tmp / "afile", "x");
    auto r = b.tillid({"export", b.id, "--out", (b.tmp / "afile").string()});
    CHECK(r.exit_code == 7);
    CHECK(read_file(b.tmp / "afile") == "x");
  }
  SECTION("unknown item") {
    auto r = b.tillid({"export", "00112233445566778899aabbccddeeff", "--out", (b.tmp / "x").string()});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("no item") != std::string::npos);
    CHECK(siblings() == before);
  }
  SECTION("not an item id") {
    auto r = b.tillid({"export", "BH-2026-0042", "--out", (b.tmp / "x").string()});
    CHECK(r.exit_code == 2);
    CHECK(siblings() == before);
  }
  SECTION("a missing parent directory") {
    auto r = b.tillid({"export", b.id, "--out", (b.tmp / "no" / "such" / "dir").string()});
    CHECK(r.exit_code == 4);
    CHECK(siblings() == before);
  }
  SECTION("an empty existing directory is filled") {
    fs::create_directory(b.tmp / "empty");
    // The staff user's own empty directory (the client, running as them, puts the bundle there).
    REQUIRE(::chown((b.tmp / "empty").c_str(), TestUids::staff, TestUids::staff) == 0);
    auto r = b.tillid({"export", b.id, "--out", (b.tmp / "empty").string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(verify_export(b.tmp / "empty").exit_code == 0);
    CHECK(exports(tillid::LogOutcome::ok) == 2);
  }
}

TEST_CASE("document file names become one safe file name in the bundle", "[export]") {
  TempDir tmp;
  const auto vdir = tmp / "vault";
  const tillid::Passphrase pass = tillid::passphrase_from("pw for the name test");
  REQUIRE(tillid::Vault::create(vdir, pass, "t", tillid::KdfCost::minimum(), tillid::Actor{}).ok());
  auto v = tillid::Vault::open(vdir, {});
  REQUIRE(v.ok());
  REQUIRE(v->unlock(pass).ok());
  auto c = v->add_case({"N-1", "0101", "", "", ""});
  REQUIRE(c.ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"../../etc/passwd", "passwd"},
      {"C:\\Users\\x\\rapport.docx", "rapport.docx"},
      {"a:b*c?\"d\"<e>|f.txt", "a_b_c__d__e__f.txt"},
      {"line\nbreak.txt", "line_break.txt"},
      {".hidden", "hidden"},
      {"manifest.json", "-manifest.json"},  // prefixed by the item id
      {"..", ".bin"},                        // <item id>.bin
      {"bad\xff" "utf8.txt", "bad_utf8.txt"},
      {"Børnehus – afhøring.pdf", "Børnehus – afhøring.pdf"},
  };
  int n = 0;
  for (const auto& [name, expected] : cases) {
    const std::string content = "document " + std::to_string(n);
    bool done = false;
    tillid::ByteSource src = [&](std::span<unsigned char> buf) -> tillid::Result<std::size_t> {
      if (done) return std::size_t{0};
      done = true;
      std::copy(content.begin(), content.end(), buf.begin());
      return content.size();
    };
    auto item = v->add_document(c->id, src, "t", name);
    REQUIRE(item.ok());
    const auto out = tmp / ("b" + std::to_string(n++));
    auto ex = v->export_item(item->id, out);
    INFO(name);
    REQUIRE(ex.ok());
    if (expected.front() == '-' || expected.front() == '.') CHECK(ex->content_file == item->id + expected);
    else CHECK(ex->content_file == expected);
    CHECK(read_file(out / ex->content_file) == content);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(out)) { (void)e; ++files; }
    CHECK(files == 9);
    auto check = tillid::verify_export(out, std::nullopt);
    REQUIRE(check.ok());
    INFO((check->problems.empty() ? "" : check->problems[0]));
    CHECK(check->ok());
  }
}

TEST_CASE("the committed bundle verifies and a flipped byte in any file is caught", "[export][vectors]") {
  const fs::path vectors = fs::path(TILLID_SOURCE_DIR) / "tests" / "vectors" / "export";
  // Format 2 (manifest v3) and format 1, which must keep verifying (EXPORT-FORMAT.md §7, §8).
  const auto [bundle_name, key_name] = GENERATE(std::pair<std::string, std::string>{"bundle-v2", "verifier-key-v2"},
                                                std::pair<std::string, std::string>{"bundle", "verifier-key"});
  CAPTURE(bundle_name);
  const fs::path committed = vectors / bundle_name;
  REQUIRE(fs::is_directory(committed));
  const std::string key = read_file(vectors / key_name);
  auto ok = verify_export(committed, {"--key", key});
  INFO(ok.out << ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(shell("cd '" + committed.string() + "' && sha256sum -c SHA256SUMS").exit_code == 0);

  TempDir tmp;
  for (const auto& e : fs::directory_iterator(committed)) {
    const auto name = e.path().filename().string();
    DYNAMIC_SECTION("flip a byte in " << name) {
      const auto copy = tmp / "bundle";
      fs::copy(committed, copy);
      const auto size = fs::file_size(copy / name);
      // A byte in the middle: for text files a digit or letter that matters.
      flip_byte(copy / name, size / 2);
      auto r = verify_export(copy, {"--key", key});
      INFO(r.out << r.err);
      CHECK(r.exit_code == 1);
    }
  }
}

TEST_CASE("a recording exports as <item id>.opus that opusinfo accepts, duration signed", "[export][record]") {
  if (shell("command -v opusinfo").exit_code != 0) {
    WARN("opusinfo is not installed (apt install opus-tools); recording export test skipped");
    return;
  }
  CliVault v;
  auto tillid = [&](std::vector<std::string> args) { return v.tillid(std::move(args)); };
  const TempDir& tmp = v.tmp;
  REQUIRE(tillid({"case", "add", "--number", "BH-REC-1", "--municipality", "0101"}).exit_code == 0);
  write_file(tmp / "fields.json", R"({"interviewer": "Anne Jensen"})");
  // A tone source records in the daemon; --wait returns the sealed item, as `start` did.
  auto rec = tillid({"--json", "record", "start", "--case", "BH-REC-1", "--fields", (tmp / "fields.json").string(),
                     "--source", "tone?duration=3", "--wait"});
  INFO(rec.err);
  REQUIRE(rec.exit_code == 0);
  const std::string id = nlohmann::json::parse(rec.out)["id"];
  const auto dir = tmp / "bundle";
  auto ex = tillid({"export", id, "--out", dir.string()});
  INFO(ex.err);
  REQUIRE(ex.exit_code == 0);
  const auto opus = dir / (id + ".opus");
  REQUIRE(fs::exists(opus));
  auto info = shell("opusinfo '" + opus.string() + "'");
  INFO(info.out << info.err);
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("Playback length: 0m:03") != std::string::npos);
  ojson m = ojson::parse(read_file(dir / "manifest.json"));
  CHECK(m["item"]["kind"] == "recording");
  CHECK(m["item"]["duration_ms"] == 3000);
  CHECK(m["item"]["interviewer"] == "Anne Jensen");
  CHECK(m["item_manifest"]["encoding"] == "tillid.manifest.v3");
  CHECK(m["item"]["sha256"] == sha256sum(opus));
  auto ok = verify_export(dir, {"--key", m["appliance"]["verifier_key"].get<std::string>()});
  INFO(ok.out);
  CHECK(ok.exit_code == 0);
  CHECK(shell("cd '" + dir.string() + "' && sha256sum -c SHA256SUMS").exit_code == 0);

  m["item"]["duration_ms"] = 2000;
  write_file(dir / "manifest.json", m.dump(2) + "\n");
  expect_rejected(verify_export(dir), "item.duration_ms (2000) differs from the signed item manifest (3000)");
}

TEST_CASE("a recording's bookmarks are exported and bound to the signed manifest", "[export][record]") {
  TempDir tmp;
  const auto vdir = tmp / "vault";
  const tillid::Passphrase pass = tillid::passphrase_from("pw for the bookmark test");
  REQUIRE(tillid::Vault::create(vdir, pass, "t", tillid::KdfCost::minimum(), tillid::Actor{}).ok());
  auto v = tillid::Vault::open(vdir, {});
  REQUIRE(v.ok());
  REQUIRE(v->unlock(pass).ok());
  auto c = v->add_case({"BH-REC-2", "0101", "", "", ""});
  REQUIRE(c.ok());
  std::string id;
  {
    auto rec = v->begin_recording(c->id, "Anne Jensen", "Samtale");
    REQUIRE(rec.ok());
    id = rec->item_id();
    const std::string chunk(4000, 'a');  // bytes as the vault sees them; not audio here
    const auto bytes = std::span(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size());
    REQUIRE(rec->append(bytes, 1000).ok());
    REQUIRE(rec->bookmark(400, "Barnet fortaeller").ok());
    REQUIRE(rec->append(bytes, 2000).ok());
    REQUIRE(rec->bookmark(1500, "Pause").ok());
    REQUIRE(rec->finish().ok());
  }
  const auto dir = tmp / "bundle";
  auto ex = v->export_item(id, dir);
  REQUIRE(ex.ok());
  CHECK(ex->content_file == id + ".opus");
  auto check = tillid::verify_export(dir, std::nullopt);
  REQUIRE(check.ok());
  INFO((check->problems.empty() ? "" : check->problems[0]));
  CHECK(check->ok());
  ojson m = ojson::parse(read_file(dir / "manifest.json"));
  REQUIRE(m["item"]["bookmarks"].size() == 2);
  CHECK(m["item"]["bookmarks"][0]["label"] == "Barnet fortaeller");
  CHECK(m["item"]["bookmarks"][0]["offset_ms"] == 400);
  CHECK(m["item"]["bookmarks"][1]["offset_ms"] == 1500);

  SECTION("a moved bookmark") {
    m["item"]["bookmarks"][1]["offset_ms"] = 900;
    write_file(dir / "manifest.json", m.dump(2) + "\n");
    expect_rejected(verify_export(dir), "item.bookmarks differ from the bookmarks the item manifest signs");
  }
  SECTION("a removed bookmark") {
    m["item"]["bookmarks"].erase(0);
    write_file(dir / "manifest.json", m.dump(2) + "\n");
    expect_rejected(verify_export(dir), "item.bookmarks differ");
  }
  SECTION("a relabelled bookmark (bound by manifest.json.sig)") {
    m["item"]["bookmarks"][0]["label"] = "Noget andet";
    write_file(dir / "manifest.json", m.dump(2) + "\n");
    expect_rejected(verify_export(dir), "manifest.json.sig");
  }
}
