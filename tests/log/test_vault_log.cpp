// The vault's side of the access log as the daemon drives it: deferred checkpoints signed on a
// timer (sign_pending_checkpoint), and what the auditor's verifier says about the result.
// The auditor runs verify_log on the log directory with the vault's verifier key only.
#include <catch2/catch.hpp>

#include "log_test_util.hpp"
#include "tillid/vault.hpp"

using namespace tillid;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPass = "correct horse battery staple";

struct TestVault {
  logtest::TempDir tmp;
  fs::path dir = tmp.path / "vault";
  TestVault() {
    auto c = Vault::create(dir, passphrase_from(kPass), "first", KdfCost::interactive(), Actor{});
    INFO((c.ok() ? std::string() : c.error().message));
    REQUIRE(c.ok());
  }
  Vault open() const {
    auto v = Vault::open(dir, Actor{});
    REQUIRE(v.ok());
    return std::move(v).value();
  }
  LogVerifyReport audit(const Vault& v) const {
    auto r = verify_log(dir / "log", v.log_verifier_key());
    REQUIRE(r.ok());
    return *r;
  }
};

std::uint64_t checkpoint_size(const Vault& v) {
  auto note = v.latest_checkpoint();
  REQUIRE(note.ok());
  auto c = open_checkpoint(*note, v.log_verifier_key());
  REQUIRE(c.ok());
  return c->size;
}

}  // namespace

TEST_CASE("deferred checkpoints: entries wait for sign_pending_checkpoint, which signs once", "[log][vault]") {
  TestVault t;
  Vault v = t.open();
  REQUIRE(v.unlock(passphrase_from(kPass)).ok());
  // Not deferred (the default): every entry is signed as it is written, nothing is pending.
  REQUIRE(v.cases().ok());
  CHECK(t.audit(v).unsigned_entries == 0);
  auto none = v.sign_pending_checkpoint();
  REQUIRE(none.ok());
  CHECK_FALSE(*none);

  v.defer_checkpoints(true);
  const std::uint64_t before = checkpoint_size(v);
  REQUIRE(v.cases().ok());
  REQUIRE(v.cases().ok());
  auto pending = t.audit(v);
  CHECK(pending.clean());
  CHECK(pending.unsigned_entries == 2);
  CHECK(checkpoint_size(v) == before);

  auto signed_now = v.sign_pending_checkpoint();
  REQUIRE(signed_now.ok());
  CHECK(*signed_now);
  CHECK(checkpoint_size(v) == before + 2);
  auto after = t.audit(v);
  CHECK(after.clean());
  CHECK(after.unsigned_entries == 0);
  CHECK(after.quarantined.empty());
  // Nothing new: nothing signed (no checkpoint per timer tick).
  auto again = v.sign_pending_checkpoint();
  REQUIRE(again.ok());
  CHECK_FALSE(*again);

  // Back to signing after every entry.
  v.defer_checkpoints(false);
  REQUIRE(v.cases().ok());
  CHECK(t.audit(v).unsigned_entries == 0);
}

TEST_CASE("sign_pending_checkpoint signs nothing while locked", "[log][vault]") {
  TestVault t;
  Vault v = t.open();
  v.defer_checkpoints(true);
  // A refused unlock is an entry written while locked: there is no key to sign it with.
  CHECK_FALSE(v.unlock(passphrase_from("not the passphrase")).ok());
  auto r = v.sign_pending_checkpoint();
  REQUIRE(r.ok());
  CHECK_FALSE(*r);
  CHECK(t.audit(v).unsigned_entries == 1);
  // Unlock authenticates the tail and signs (§3.4) even when deferred: the timer is only for
  // entries written after it.
  REQUIRE(v.unlock(passphrase_from(kPass)).ok());
  auto s = v.sign_pending_checkpoint();
  REQUIRE(s.ok());
  auto rep = t.audit(v);
  CHECK(rep.clean());
  CHECK(rep.unsigned_entries == 0);
}
