// Fixed vectors (tests/vectors/log): a small log generated from a fixed seed key and clock.
// It must verify, and regenerating it must reproduce the entry encoding, leaf hashes,
// entries file, checkpoints file, checkpoint text and verifier key byte for byte.
// To regenerate after a deliberate format change: TILLID_WRITE_LOG_VECTORS=1 tillid-test-log "[vectors]"
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

namespace {

const fs::path kVectors = fs::path(TILLID_SOURCE_DIR) / "tests" / "vectors" / "log";
constexpr unsigned char kSeedByte = 0x42;  // Ed25519 seed: 32 bytes of 0x42
const std::string kVectorOrigin = "tillid.local/vectors";

std::string hexs(std::span<const unsigned char> b) {
  std::string s;
  char buf[3];
  for (unsigned char c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

// LOG-FORMAT.md §7: the entry MAC key (vault subkey 5 in a vault) is 32 bytes of 0x05.
Secret vector_entry_key() {
  Secret k(32);
  std::fill(k.data(), k.data() + 32, 0x05);
  return k;
}

// LOG-FORMAT.md §3.3, computed here independently of the library.
Bytes mac_of(const Bytes& entry) {
  const Secret key = vector_entry_key();
  Bytes in{'t', 'i', 'l', 'l', 'i', 'd', '-', 'l', 'o', 'g', ' ', 'e', 'n', 't', 'r', 'y', ' ', 'm', 'a', 'c', ' ', 'v', '1', 0};
  in.insert(in.end(), entry.begin(), entry.end());
  Bytes mac(32);
  crypto_generichash(mac.data(), mac.size(), in.data(), in.size(), key.data(), key.size());
  return mac;
}

// The events in seq order; seq 2 is the log_quarantined event the log writes itself.
std::vector<LogEvent> all_vector_events();

std::vector<LogEvent> vector_events() {
  const auto ev = logtest::make_event;
  return {
      ev("local-operator", "operator", LogAction::vault_init, LogOutcome::ok, "", "", ""),
      ev("local-operator", "operator", LogAction::unlock, LogOutcome::failed, "", "", "wrong passphrase"),
      ev("anne", "staff", LogAction::case_created, LogOutcome::ok, "0123456789abcdef0123456789abcdef", "", ""),
      ev("anne", "staff", LogAction::item_added, LogOutcome::ok, "0123456789abcdef0123456789abcdef",
         "fedcba9876543210fedcba9876543210", "recording"),
      ev("bo", "caseworker", LogAction::share_fetched, LogOutcome::refused, "0123456789abcdef0123456789abcdef",
         "fedcba9876543210fedcba9876543210", "share expired"),
      ev("dpo", "auditor", LogAction::log_verified, LogOutcome::ok, "", "", "æøå ok"),
  };
}

// Build the vector log in `dir` (LOG-FORMAT.md §7): vault_init, a checkpoint, a failed unlock
// written while locked (no MAC), the log reopened and the entry key set (quarantining seq 1
// with a log_quarantined event, seq 2), one more single append, a checkpoint, a batch of three, a checkpoint.
void generate(const fs::path& dir) {
  Key key(kSeedByte);
  const auto opts = options(kVectorOrigin, true, key.pk);  // one clock across both writers
  const auto events = vector_events();
  {
    auto first = AccessLog::create(dir, opts);
    REQUIRE(first.ok());
    REQUIRE(first->append(events[0]).ok());
    REQUIRE(first->sign_checkpoint(key.sk, key.pk).ok());
    REQUIRE(first->append(events[1]).ok());
  }
  // Another writer sets the key: seq 1 is not its own entry, so it cannot vouch for it (§3.4).
  auto log = AccessLog::open(dir, opts);
  REQUIRE(log.ok());
  const auto q = log->authenticate_tail(vector_entry_key(), events[0]);
  REQUIRE(q.ok());
  REQUIRE(*q == std::vector<std::uint64_t>{1});
  REQUIRE(log->append(events[2]).ok());
  REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
  REQUIRE(log->append_batch(std::span(events).subspan(3)).ok());
  const auto cp = log->sign_checkpoint(key.sk, key.pk).value();
  std::ofstream(dir / "verifier-key") << key.vkey(kVectorOrigin) << "\n";
  std::ofstream(dir / "checkpoint.txt") << cp.note;
  std::ofstream leaves(dir / "leaves.txt");
  auto j = nlohmann::json::array();
  const auto entries = log->entries().value();
  for (const auto& e : entries) {
    const Bytes b = encode_log_entry(e);
    leaves << hexs(log_leaf_hash(b)) << "\n";
    j.push_back({{"seq", e.seq},
                 {"time_unix_ms", e.time_unix_ms},
                 {"actor_id", e.actor_id},
                 {"actor_role", e.actor_role},
                 {"action", to_string(e.action)},
                 {"action_code", static_cast<int>(e.action)},
                 {"outcome", std::string(to_string(e.outcome))},
                 {"case_id", e.case_id},
                 {"item_id", e.item_id},
                 {"details", e.details},
                 {"entry_hex", hexs(b)},
                 {"mac_hex", e.seq <= 1 ? std::string(64, '0') : hexs(mac_of(b))}});
  }
  std::ofstream(dir / "entries.json") << j.dump(1) << "\n";
  std::ofstream(dir / "root.txt") << hexs(log->root()) << "\n";
}

std::vector<LogEvent> all_vector_events() {
  auto ev = vector_events();
  ev.insert(ev.begin() + 2, logtest::make_event("local-operator", "operator", LogAction::log_quarantined,
                                                LogOutcome::ok, "", "", "seq 1-1"));
  return ev;
}

std::string file_text(const fs::path& p) { return text_of(read_bytes(p)); }

}  // namespace

TEST_CASE("fixed log vectors verify and are reproduced byte for byte", "[log][vectors]") {
  if (std::getenv("TILLID_WRITE_LOG_VECTORS") != nullptr) {
    fs::remove(kVectors / "entries");
    fs::remove(kVectors / "checkpoints");
    fs::remove(kVectors / "index");
    fs::create_directories(kVectors);
    generate(kVectors);
    WARN("wrote " << kVectors);
  }
  REQUIRE(fs::exists(kVectors / "entries"));
  std::string vkey = file_text(kVectors / "verifier-key");
  // An auditor's copy of the log verifies with only the verifier key.
  auto rep = verify_log(kVectors, vkey, std::vector<std::string>{file_text(kVectors / "checkpoint.txt")});
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->entries == 7);
  CHECK(rep->checkpoints == 3);
  REQUIRE(rep->quarantined.size() == 1);
  CHECK(rep->quarantined[0].first == 1);
  CHECK(rep->quarantined[0].last == 1);
  CHECK(hexs(rep->root) + "\n" == file_text(kVectors / "root.txt"));

  // Every entry's encoding and leaf hash, from the JSON description.
  const auto j = nlohmann::json::parse(file_text(kVectors / "entries.json"));
  const auto events = all_vector_events();
  REQUIRE(j.size() == events.size());
  const auto raw = RawFile::load(kVectors / "entries", kEntriesHeaderSize);
  REQUIRE(raw.records.size() == events.size());
  std::string leaves;
  for (std::size_t i = 0; i < j.size(); ++i) {
    LogEntry e;
    static_cast<LogEvent&>(e) = events[i];
    e.seq = j[i]["seq"];
    e.time_unix_ms = j[i]["time_unix_ms"];
    CHECK(j[i]["seq"] == i);
    CHECK(hexs(encode_log_entry(e)) == j[i]["entry_hex"]);
    leaves += hexs(log_leaf_hash(encode_log_entry(e))) + "\n";
    CHECK(hexs(raw.macs[i]) == j[i]["mac_hex"]);
    CHECK(hexs(raw.records[i]) == j[i]["entry_hex"]);
  }
  CHECK(leaves == file_text(kVectors / "leaves.txt"));

  // Regenerate from the seed: identical files.
  TempDir dir;
  generate(dir.path / "log");
  for (const char* f : {"entries", "checkpoints", "index", "verifier-key", "checkpoint.txt", "leaves.txt", "entries.json", "root.txt"}) {
    INFO(f);
    CHECK(read_bytes(dir.path / "log" / f) == read_bytes(kVectors / f));
  }
}
