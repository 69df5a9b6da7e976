// The users roster (FORMAT.md §8) through the public Vault API, and as an attacker with the
// vault closed: roster bytes or signature edited, another vault's roster planted, an older
// signed roster replayed. Also set_actor, log_event and lock.
#include <sqlite3.h>

#include <algorithm>
#include <optional>

#include "tillid/recording.hpp"
#include "vault_test_util.hpp"

using namespace tillid;
using vt::pass;

namespace {

namespace fs = std::filesystem;

NewUser new_user(std::string name, Role role, std::optional<unsigned> uid = std::nullopt,
                 std::string municipality = {}) {
  return NewUser{std::move(name), role, uid, std::move(municipality)};
}

void create_with_admin(const fs::path& dir, const std::string& admin = "root-admin", unsigned uid = 0) {
  auto c = Vault::create(dir, pass(vt::kPass), "officer-1", KdfCost::minimum(), new_user(admin, Role::admin, uid));
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
}

Vault open_locked(const fs::path& dir) {
  auto v = Vault::open(dir, Actor{"tester", "staff"});
  INFO((v.ok() ? std::string() : v.error().message));
  REQUIRE(v.ok());
  return std::move(v).value();
}

Vault open_unlocked(const fs::path& dir, Actor actor = Actor{"root-admin", "admin"}) {
  auto v = Vault::open(dir, std::move(actor));
  REQUIRE(v.ok());
  auto u = v->unlock(pass(vt::kPass));
  INFO((u.ok() ? std::string() : u.error().message));
  REQUIRE(u.ok());
  return std::move(v).value();
}

User add(Vault& v, const NewUser& nu) {
  auto r = v.add_user(nu);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return r.value();
}

// The test's own view of vault.db's vault_meta rows, as an attacker with the file edits them.
class Meta {
 public:
  explicit Meta(const fs::path& dir) {
    REQUIRE(sqlite3_open_v2((dir / "vault.db").c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~Meta() { sqlite3_close(db_); }
  Meta(const Meta&) = delete;
  Meta& operator=(const Meta&) = delete;

  std::optional<vt::Bytes> get(const char* key) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "SELECT value FROM vault_meta WHERE key = ?", -1, &st, nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    std::optional<vt::Bytes> out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, 0));
      out = vt::Bytes(p, p + sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  void set(const char* key, const vt::Bytes& value) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO vault_meta (key, value) VALUES (?, ?)", -1, &st,
                               nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
  }
  void erase(const char* key) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "DELETE FROM vault_meta WHERE key = ?", -1, &st, nullptr) == SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
  }

 private:
  sqlite3* db_ = nullptr;
};

std::vector<LogEntry> log_entries(const fs::path& dir, std::optional<LogAction> action = std::nullopt) {
  auto all = read_log_entries(dir / "log");
  REQUIRE(all.ok());
  std::vector<LogEntry> out;
  for (auto& e : all.value())
    if (!action || e.action == *action) out.push_back(e);
  return out;
}

void require_corrupt(const Vault& v, const std::string& why_contains) {
  auto all = v.users();
  REQUIRE_FALSE(all.ok());
  CHECK(all.error().code == Errc::corrupt);
  CHECK(all.error().message.find(why_contains) != std::string::npos);
  auto one = v.user_by_uid(0);
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().code == Errc::corrupt);
}

}  // namespace

TEST_CASE("users: create names the first admin; the roster is signed and read while locked", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  Vault v = open_locked(dir);
  REQUIRE_FALSE(v.is_unlocked());
  auto all = v.users();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  CHECK(all->at(0).name == "root-admin");
  CHECK(all->at(0).role == Role::admin);
  REQUIRE(all->at(0).uid.has_value());
  CHECK(*all->at(0).uid == 0);
  CHECK(all->at(0).created_unix > 0);
  CHECK_FALSE(all->at(0).revoked);
  auto root = v.user_by_uid(0);
  REQUIRE(root.ok());
  REQUIRE(root->has_value());
  CHECK((*root)->name == "root-admin");
  auto nobody = v.user_by_uid(61004);
  REQUIRE(nobody.ok());
  CHECK_FALSE(nobody->has_value());

  // The vault's first entry is by that admin, and names the roster version it made.
  auto init = log_entries(dir, LogAction::vault_init);
  REQUIRE(init.size() == 1);
  CHECK(init[0].actor_id == "root-admin");
  CHECK(init[0].actor_role == "admin");
  CHECK(init[0].details.find("roster 1") != std::string::npos);
  // users() is an access like any listing: logged.
  auto listed = log_entries(dir, LogAction::users_listed);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].details == "1 users");
}

TEST_CASE("users: create refuses a first user that is not a valid admin, and leaves nothing", "[users]") {
  vt::TempDir t;
  for (const NewUser& bad : {new_user("Root", Role::admin), new_user("", Role::admin),
                             new_user(std::string(33, 'a'), Role::admin), new_user("staffer", Role::staff),
                             new_user("admin", Role::admin, 0, "0101"), new_user("cpr-010203-4455", Role::admin)}) {
    const fs::path dir = t.path() / "v";
    auto c = Vault::create(dir, pass(vt::kPass), "officer-1", KdfCost::minimum(), bad);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code == Errc::invalid_argument);
    CHECK_FALSE(fs::exists(dir));
  }
}

TEST_CASE("users: enrol and revoke round-trip through a reopen, logged with name, role and version", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  {
    Vault v = open_unlocked(dir);
    User s = add(v, new_user("sofie.staff", Role::staff, 61001));
    CHECK(s.created_unix > 0);
    add(v, new_user("aud_1", Role::auditor, 61002));
    User cw = add(v, new_user("case-worker", Role::caseworker, 61003, "0101"));
    CHECK(cw.municipality == "0101");
    add(v, new_user("remote-cw", Role::caseworker, std::nullopt, "0851"));
  }
  {
    Vault v = open_locked(dir);
    auto all = v.users();
    REQUIRE(all.ok());
    std::vector<std::string> names;
    for (auto& u : all.value()) names.push_back(u.name);
    CHECK(names == std::vector<std::string>{"aud_1", "case-worker", "remote-cw", "root-admin", "sofie.staff"});
    auto s = v.user_by_uid(61001);
    REQUIRE(s.ok());
    REQUIRE(s->has_value());
    CHECK((*s)->role == Role::staff);
    auto cw = v.user_by_uid(61003);
    REQUIRE(cw.ok());
    REQUIRE(cw->has_value());
    CHECK((*cw)->role == Role::caseworker);
    CHECK((*cw)->municipality == "0101");
  }
  {
    Vault v = open_unlocked(dir);
    REQUIRE(v.revoke_user("sofie.staff").ok());
    auto gone = v.user_by_uid(61001);
    REQUIRE(gone.ok());
    CHECK_FALSE(gone->has_value());
    // The uid may be given to someone new; the name never comes back.
    add(v, new_user("sofie2", Role::staff, 61001));
    auto again = v.add_user(new_user("sofie.staff", Role::staff, 61009));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == Errc::already_exists);
  }
  Vault v = open_locked(dir);
  auto all = v.users();
  REQUIRE(all.ok());
  auto it = std::find_if(all->begin(), all->end(), [](const User& u) { return u.name == "sofie.staff"; });
  REQUIRE(it != all->end());
  CHECK(it->revoked);
  auto now = v.user_by_uid(61001);
  REQUIRE(now.ok());
  REQUIRE(now->has_value());
  CHECK((*now)->name == "sofie2");

  auto enrolled = log_entries(dir, LogAction::user_enrolled);
  std::vector<std::string> ok_details;
  for (auto& e : enrolled)
    if (e.outcome == LogOutcome::ok) ok_details.push_back(e.details);
  CHECK(ok_details == std::vector<std::string>{"user sofie.staff role staff roster 2", "user aud_1 role auditor roster 3",
                                               "user case-worker role caseworker roster 4",
                                               "user remote-cw role caseworker roster 5",
                                               "user sofie2 role staff roster 7"});
  CHECK(enrolled.front().actor_id == "root-admin");
  CHECK(enrolled.front().actor_role == "admin");
  CHECK(enrolled.back().outcome == LogOutcome::failed);  // the reused name
  auto revoked = log_entries(dir, LogAction::user_revoked);
  REQUIRE(revoked.size() == 1);
  CHECK(revoked[0].details == "user sofie.staff role staff roster 6");
}

TEST_CASE("users: the roster's rules are enforced", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  Vault v = open_unlocked(dir);
  auto refused = [&](const NewUser& nu, Errc code) {
    auto r = v.add_user(nu);
    INFO(nu.name);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code);
  };
  refused(new_user("Upper", Role::staff), Errc::invalid_argument);
  refused(new_user("sp ace", Role::staff), Errc::invalid_argument);
  refused(new_user("", Role::staff), Errc::invalid_argument);
  refused(new_user(std::string(33, 'x'), Role::staff), Errc::invalid_argument);
  refused(new_user("cw", Role::caseworker), Errc::invalid_argument);                   // no municipality
  refused(new_user("cw", Role::caseworker, std::nullopt, "101"), Errc::invalid_argument);
  refused(new_user("cw", Role::caseworker, std::nullopt, "01a1"), Errc::invalid_argument);
  refused(new_user("st", Role::staff, std::nullopt, "0101"), Errc::invalid_argument);  // only caseworkers
  refused(new_user("root2", Role::staff, 0), Errc::already_exists);                    // uid 0 is root-admin's
  refused(new_user("root-admin", Role::auditor), Errc::already_exists);
  refused(new_user("010203-4455", Role::staff), Errc::invalid_argument);  // the log refuses CPR shapes
  CHECK(add(v, new_user("st", Role::staff)).name == "st");  // no uid: not a local user

  // The last admin stays.
  auto last = v.revoke_user("root-admin");
  REQUIRE_FALSE(last.ok());
  CHECK(last.error().code == Errc::denied);
  add(v, new_user("second-admin", Role::admin, 1000));
  REQUIRE(v.revoke_user("root-admin").ok());
  auto twice = v.revoke_user("root-admin");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == Errc::invalid_argument);
  auto none = v.revoke_user("nobody");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::not_found);
  auto last2 = v.revoke_user("second-admin");
  REQUIRE_FALSE(last2.ok());
  CHECK(last2.error().code == Errc::denied);

  auto all = v.users();
  REQUIRE(all.ok());
  CHECK(all->size() == 3);
  auto denied = log_entries(dir, LogAction::user_revoked);
  REQUIRE(denied.size() == 5);
  CHECK(denied[0].outcome == LogOutcome::refused);
  CHECK(denied[0].details == "denied");
}

TEST_CASE("users: changing the roster needs the vault unlocked", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  Vault v = open_locked(dir);
  auto a = v.add_user(new_user("st", Role::staff, 61001));
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == Errc::locked);
  auto r = v.revoke_user("root-admin");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::locked);
  auto after = log_entries(dir, LogAction::user_enrolled);
  REQUIRE(after.size() == 1);
  CHECK(after[0].outcome == LogOutcome::refused);
}

TEST_CASE("users: a vault created without a first admin has no users until an admin is enrolled", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  REQUIRE(Vault::create(dir, pass(vt::kPass), "officer-1", KdfCost::minimum(), Actor{}).ok());
  Vault v = open_unlocked(dir);
  auto none = v.users();
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto first_staff = v.add_user(new_user("st", Role::staff, 61001));
  REQUIRE_FALSE(first_staff.ok());
  CHECK(first_staff.error().code == Errc::invalid_argument);
  add(v, new_user("adm", Role::admin, 0));
  auto one = v.user_by_uid(0);
  REQUIRE(one.ok());
  CHECK(one->has_value());
}

TEST_CASE("users: an edited roster, signature or planted roster is refused, with the vault closed", "[users][attack]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  {
    Vault v = open_unlocked(dir);
    add(v, new_user("sofie", Role::staff, 61001));
    add(v, new_user("auditor", Role::auditor, 61002));
  }
  vt::Bytes roster, sig;
  {
    Meta m(dir);
    roster = *m.get("roster");
    sig = *m.get("roster_sig");
  }
  auto restore = [&] {
    Meta m(dir);
    m.set("roster", roster);
    m.set("roster_sig", sig);
  };

  SECTION("bytes across the roster: tag, vault id, a role, the last byte") {
    // Make the staff member an admin: the role byte follows her name in the encoding.
    const std::string name = "sofie";
    auto at = std::search(roster.begin(), roster.end(), name.begin(), name.end());
    REQUIRE(at != roster.end());
    std::size_t role_at = static_cast<std::size_t>(at - roster.begin()) + name.size();
    REQUIRE(roster[role_at] == 2);
    for (std::size_t i : {std::size_t{0}, std::size_t{20}, role_at, roster.size() - 1}) {
      vt::Bytes edited = roster;
      edited[i] = i == role_at ? 1 : static_cast<unsigned char>(edited[i] ^ 0x01);
      {
        Meta m(dir);
        m.set("roster", edited);
      }
      INFO("byte " << i);
      Vault v = open_locked(dir);
      require_corrupt(v, "signature does not verify");
      restore();
    }
  }
  SECTION("a flipped signature bit") {
    vt::Bytes bad = sig;
    bad[10] ^= 0x80;
    {
      Meta m(dir);
      m.set("roster_sig", bad);
    }
    require_corrupt(open_locked(dir), "signature does not verify");
  }
  SECTION("a signature or a roster removed") {
    {
      Meta m(dir);
      m.erase("roster_sig");
    }
    require_corrupt(open_locked(dir), "missing");
    restore();
    {
      Meta m(dir);
      m.erase("roster");
    }
    require_corrupt(open_locked(dir), "missing");
  }
  SECTION("another vault's signed roster") {
    const fs::path other = t.path() / "other";
    create_with_admin(other, "root-admin", 0);
    {
      Vault o = open_unlocked(other);
      add(o, new_user("mallory", Role::admin, 61001));
    }
    vt::Bytes theirs, theirs_sig;
    {
      Meta m(other);
      theirs = *m.get("roster");
      theirs_sig = *m.get("roster_sig");
    }
    {
      Meta m(dir);
      m.set("roster", theirs);
      m.set("roster_sig", theirs_sig);
    }
    require_corrupt(open_locked(dir), "signature does not verify");
  }
  SECTION("both rows removed: no users while locked, and the unlock names the rollback") {
    {
      Meta m(dir);
      m.erase("roster");
      m.erase("roster_sig");
    }
    Vault v = open_locked(dir);
    auto none = v.user_by_uid(61001);
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    auto u = v.unlock(pass(vt::kPass));
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().code == Errc::corrupt);
    CHECK(u.error().message.find("rolled back") != std::string::npos);
    CHECK_FALSE(v.is_unlocked());
  }
  // Untouched, it still verifies (the sections above did change something).
  restore();
  Vault v = open_locked(dir);
  auto all = v.users();
  INFO((all.ok() ? std::string() : all.error().message));
  REQUIRE(all.ok());
  CHECK(all->size() == 3);
}

TEST_CASE("users: a replayed older signed roster (un-revoking someone) is refused", "[users][attack]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  {
    Vault v = open_unlocked(dir);
    add(v, new_user("sofie", Role::staff, 61001));
  }
  vt::Bytes old_roster, old_sig;
  {
    Meta m(dir);
    old_roster = *m.get("roster");
    old_sig = *m.get("roster_sig");
  }
  Vault live = open_unlocked(dir);
  REQUIRE(live.revoke_user("sofie").ok());
  auto gone = live.user_by_uid(61001);
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());

  SECTION("while the vault is open: this Vault has seen the newer version") {
    {
      Meta m(dir);
      m.set("roster", old_roster);
      m.set("roster_sig", old_sig);
    }
    auto back = live.user_by_uid(61001);
    REQUIRE_FALSE(back.ok());
    CHECK(back.error().code == Errc::corrupt);
    CHECK(back.error().message.find("rolled back") != std::string::npos);
  }
  SECTION("with the vault closed: the unlock checks the signed log") {
    { Vault closing = std::move(live); }
    {
      Meta m(dir);
      m.set("roster", old_roster);
      m.set("roster_sig", old_sig);
    }
    Vault v = open_locked(dir);
    auto u = v.unlock(pass(vt::kPass));
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().code == Errc::corrupt);
    CHECK(u.error().message.find("records version 3") != std::string::npos);
    // Once the unlock has seen the log, users() refuses the old roster too.
    auto back = v.user_by_uid(61001);
    REQUIRE_FALSE(back.ok());
    CHECK(back.error().code == Errc::corrupt);
  }
}

TEST_CASE("users: set_actor and log_event write the caller's decisions under the caller's name", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  Vault v = open_locked(dir);
  v.set_actor(Actor{"sofie", "staff"});
  REQUIRE(v.log_event(LogAction::authz_decision, LogOutcome::ok, "op ls").ok());
  v.set_actor(Actor{"uid:61004", "none"});
  REQUIRE(v.log_event(LogAction::authz_decision, LogOutcome::refused, "op get: not enrolled").ok());
  // The log's bounds still apply: identifying text is refused, not written.
  auto cpr = v.log_event(LogAction::authz_decision, LogOutcome::refused, "op get 010203-4455");
  REQUIRE_FALSE(cpr.ok());
  CHECK(cpr.error().code == Errc::invalid_argument);
  auto e = log_entries(dir, LogAction::authz_decision);
  REQUIRE(e.size() == 2);
  CHECK(e[0].actor_id == "sofie");
  CHECK(e[0].actor_role == "staff");
  CHECK(e[0].outcome == LogOutcome::ok);
  CHECK(e[0].details == "op ls");
  CHECK(e[1].actor_id == "uid:61004");
  CHECK(e[1].actor_role == "none");
  CHECK(e[1].outcome == LogOutcome::refused);
}

TEST_CASE("users: lock wipes the keys, is logged, and waits for a running recording", "[users]") {
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  Vault v = open_unlocked(dir, Actor{"sofie", "staff"});
  const std::string case_id = vt::add_case(v);
  {
    auto rec = v.begin_recording(case_id, "interviewer", "title");
    INFO((rec.ok() ? std::string() : rec.error().message));
    REQUIRE(rec.ok());
    auto refused = v.lock();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == Errc::denied);
    CHECK(v.is_unlocked());
    REQUIRE(rec->finish().ok());
  }
  REQUIRE(v.lock().ok());
  CHECK_FALSE(v.is_unlocked());
  auto cases = v.cases();
  REQUIRE_FALSE(cases.ok());
  CHECK(cases.error().code == Errc::locked);
  REQUIRE(v.lock().ok());  // locking a locked vault is harmless
  // Still usable: the same object unlocks again.
  REQUIRE(v.unlock(pass(vt::kPass)).ok());
  CHECK(v.cases().ok());

  auto locks = log_entries(dir, LogAction::lock);
  REQUIRE(locks.size() == 3);
  CHECK(locks[0].outcome == LogOutcome::refused);
  CHECK(locks[1].outcome == LogOutcome::ok);
  CHECK(locks[1].actor_id == "sofie");
  CHECK(locks[2].details == "already locked");
  // The lock entry is covered by a signed checkpoint made before the key went.
  auto report = verify_log(dir / "log", v.log_verifier_key());
  REQUIRE(report.ok());
  CHECK(report->clean());
}

TEST_CASE("users: lock forgets the log's entry key too, so an entry written while locked is not vouched for by a MAC",
          "[users]") {
  // LOG-FORMAT.md §3.4: while unlocked every entry carries a MAC under subkey 5. After lock()
  // the key must be gone: an entry written then carries no MAC, so a later process (which did
  // not write it itself) quarantines it at unlock instead of adopting it.
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  {
    Vault v = open_unlocked(dir);
    REQUIRE(v.log_event(LogAction::authz_decision, LogOutcome::ok, "op status").ok());  // MAC'd
    REQUIRE(v.lock().ok());
    REQUIRE(v.log_event(LogAction::authz_decision, LogOutcome::ok, "op lock").ok());  // no key: no MAC
  }
  { Vault v = open_unlocked(dir); }
  auto all = log_entries(dir);
  const auto quarantined = quarantined_ranges(all);
  std::vector<std::string> q;
  for (const auto& e : all)
    if (in_ranges(quarantined, e.seq)) q.push_back(e.details);
  CHECK(q == std::vector<std::string>{"op lock"});
}

TEST_CASE("users: a roster put back while the vault was locked is refused at the next unlock of the same Vault",
          "[users][attack]") {
  // A daemon locks when idle and unlocks again in the same process; the roster swapped in
  // between must not pass that unlock (the floor of FORMAT.md §8.4 rule 2).
  vt::TempDir t;
  const fs::path dir = t.path() / "v";
  create_with_admin(dir);
  {
    Vault v = open_unlocked(dir);
    add(v, new_user("sofie", Role::staff, 61001));
  }
  vt::Bytes old_roster, old_sig;
  {
    Meta m(dir);
    old_roster = *m.get("roster");
    old_sig = *m.get("roster_sig");
  }
  Vault v = open_unlocked(dir);
  REQUIRE(v.revoke_user("sofie").ok());
  REQUIRE(v.lock().ok());
  {
    Meta m(dir);
    m.set("roster", old_roster);
    m.set("roster_sig", old_sig);
  }
  auto u = v.unlock(pass(vt::kPass));
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().code == Errc::corrupt);
  CHECK(u.error().message.find("rolled back") != std::string::npos);
  CHECK_FALSE(v.is_unlocked());
}
