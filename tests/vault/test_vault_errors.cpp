// Bad input gets a clear error and changes nothing: wrong passphrase, missing, unreadable or
// directory input, a directory that is not a vault, key slot misuse, a locked vault, and a
// full disk (ENOSPC on a small tmpfs).
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tillid/access_log.hpp"
#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

TEST_CASE("a wrong passphrase is refused and changes nothing", "[vault][errors]") {
  TempDir t;
  auto dir = t.path() / "v";
  { Vault v = make_vault(dir); add_case(v); }
  auto before = hash_tree(dir);
  {
    auto v = Vault::open(dir, tillid::Actor{});
    REQUIRE(v.ok());
    auto r = v->unlock(pass("not the passphrase"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::wrong_passphrase);
    CHECK(r.error().message.find("not the passphrase") == std::string::npos);
    CHECK_FALSE(v->is_unlocked());
    CHECK(v->cases().error().code == Errc::locked);
    CHECK(v->verify().error().code == Errc::locked);
  }
  CHECK(hash_tree(dir) == before);
  // The refused attempts themselves are in the access log: the unlock, then the two calls
  // made while locked.
  auto entries = read_log_entries(dir / "log");
  REQUIRE(entries.ok());
  REQUIRE(entries->size() >= 3);
  const auto& unlock = (*entries)[entries->size() - 3];
  CHECK(unlock.action == LogAction::unlock);
  CHECK(unlock.outcome == LogOutcome::refused);
  CHECK(unlock.details == "wrong_passphrase");
  CHECK(entries->back().action == LogAction::verify_run);
  CHECK(entries->back().outcome == LogOutcome::refused);
  CHECK(entries->back().details == "locked");
  reopen(dir);  // and the right one still works
}

TEST_CASE("bad input files are refused before anything is written", "[vault][errors]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  auto case_id = add_case(v);
  auto before = list_dir(t.path() / "v" / "objects");

  SECTION("missing file") {
    auto r = v.add_document_file(case_id, t.path() / "does-not-exist.pdf", "t");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::not_found);
    CHECK(r.error().message.find("does-not-exist.pdf") != std::string::npos);
  }
  SECTION("a directory") {
    fs::create_directory(t.path() / "somedir");
    auto r = v.add_document_file(case_id, t.path() / "somedir", "t");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find("directory") != std::string::npos);
  }
  SECTION("an unreadable file") {
    if (::geteuid() == 0) {
      WARN("running as root: chmod 000 does not stop root reading, so the unreadable-file case is skipped");
      return;
    }
    write_file(t.path() / "secret.pdf", Bytes(10, 1));
    fs::permissions(t.path() / "secret.pdf", fs::perms::none);
    auto r = v.add_document_file(case_id, t.path() / "secret.pdf", "t");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::io);
    CHECK(r.error().message.find("permission") != std::string::npos);
  }
  SECTION("a source that fails part-way") {
    int calls = 0;
    ByteSource src = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
      if (++calls > 3) return make_error(Errc::io, "simulated read error");
      std::fill(buf.begin(), buf.end(), 1);
      return buf.size();
    };
    auto r = v.add_document(case_id, src, "t", "f");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "simulated read error");
  }
  CHECK(list_dir(t.path() / "v" / "objects") == before);
  CHECK(fs::is_empty(t.path() / "v" / "tmp"));
  CHECK(v.items()->empty());
  CHECK(v.verify()->clean());
}

TEST_CASE("a directory that is not a vault is refused and left untouched", "[vault][errors]") {
  TempDir t;
  auto dir = t.path() / "notavault";
  fs::create_directory(dir);
  write_file(dir / "holiday.jpg", Bytes(100, 9));
  auto before = hash_tree(dir);
  auto listing = list_dir(dir);

  auto o = Vault::open(dir, tillid::Actor{});
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().code == Errc::not_a_vault);
  CHECK(o.error().message.find("not a Tillid vault") != std::string::npos);
  CHECK(list_dir(dir) == listing);
  CHECK(hash_tree(dir) == before);

  auto c = Vault::create(dir, pass(kPass), "x", KdfCost::minimum(), tillid::Actor{});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("not empty") != std::string::npos);
  CHECK(list_dir(dir) == listing);

  auto absent = Vault::open(t.path() / "absent", tillid::Actor{});
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.error().code == Errc::not_a_vault);
  CHECK_FALSE(fs::exists(t.path() / "absent"));

  // A vault is not re-created over itself.
  { Vault v = make_vault(t.path() / "v"); }
  auto again = Vault::create(t.path() / "v", pass(kPass), "x", KdfCost::minimum(), tillid::Actor{});
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::already_exists);
}

TEST_CASE("key slots: several officers, add and remove, never the last", "[vault][keys]") {
  TempDir t;
  auto dir = t.path() / "v";
  int second = 0;
  {
    Vault v = make_vault(dir);
    auto s = v.add_key_slot(pass(kPass2), "officer-2", KdfCost::minimum());
    REQUIRE(s.ok());
    second = s.value();
    auto slots = v.key_slots();
    REQUIRE(slots.ok());
    REQUIRE(slots->size() == 2);
    CHECK(slots->at(0).label == "officer-1");
    CHECK(slots->at(1).label == "officer-2");
    CHECK(v.add_key_slot(pass(""), "empty", KdfCost::minimum()).error().code == Errc::invalid_argument);
  }
  reopen(dir, kPass);
  {
    Vault v = reopen(dir, kPass2);
    int first = v.key_slots()->at(0).id;
    CHECK(v.remove_key_slot(12345).error().code == Errc::not_found);
    REQUIRE(v.remove_key_slot(first).ok());
    auto last = v.remove_key_slot(second);
    REQUIRE_FALSE(last.ok());
    CHECK(last.error().code == Errc::last_key_slot);
    CHECK(v.key_slots()->size() == 1);
  }
  {
    auto v = Vault::open(dir, tillid::Actor{});
    REQUIRE(v.ok());
    CHECK(v->unlock(pass(kPass)).error().code == Errc::wrong_passphrase);
    CHECK(v->unlock(pass(kPass2)).ok());
  }
  // A locked vault refuses slot changes.
  auto locked = Vault::open(dir, tillid::Actor{});
  REQUIRE(locked.ok());
  CHECK(locked->add_key_slot(pass("x"), "x", KdfCost::minimum()).error().code == Errc::locked);
}

namespace {
// Mounts a small tmpfs for the duration of a test; unmounts on every path out.
struct TmpfsMount {
  fs::path at;
  bool mounted = false;
  TmpfsMount(const fs::path& p, const char* size) : at(p) {
    fs::create_directory(at);
    std::string opts = std::string("size=") + size + ",mode=0700";
    mounted = ::mount("tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted) ::umount2(at.c_str(), MNT_DETACH);
  }
};
}  // namespace

TEST_CASE("a full disk gives no_space and leaves nothing partial", "[vault][errors][nospace]") {
  TempDir t;
  if (::geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs, so the full-disk test is skipped");
    return;
  }
  TmpfsMount m(t.path() / "small", "4m");
  if (!m.mounted) {
    WARN("mounting a tmpfs is not permitted here (" << std::strerror(errno) << "); full-disk test skipped");
    return;
  }
  auto dir = m.at / "v";
  Vault v = make_vault(dir);
  auto case_id = add_case(v);
  auto small = add_bytes(v, case_id, prng_bytes(1000, 1));

  // 8 MiB cannot fit in 4 MiB.
  Prng gen(5);
  std::uint64_t produced = 0;
  ByteSource big = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), (8u << 20) - produced));
    gen.fill(buf.data(), n);
    produced += n;
    return n;
  };
  auto r = v.add_document(case_id, big, "too big", "big.bin");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::no_space);
  INFO(r.error().message);

  CHECK(fs::is_empty(dir / "tmp"));
  CHECK(list_dir(dir / "objects") == std::vector<std::string>{small.id});
  auto items = v.items();
  REQUIRE(items.ok());
  CHECK(items->size() == 1);
  auto rep = v.verify();
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  // The vault is still usable once the attempt is gone.
  CHECK(fetch_bytes(v, small.id) == prng_bytes(1000, 1));
  add_bytes(v, case_id, prng_bytes(5000, 2));
}
