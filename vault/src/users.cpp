// The Vault's users: listing and looking up the signed roster (also while locked), enrolling
// and revoking users, and the roster's rollback check at unlock (FORMAT.md §8).
#include <algorithm>
#include <ctime>

#include "users_roster.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;

std::string_view to_string(Role role) {
  switch (role) {
    case Role::admin: return "admin";
    case Role::staff: return "staff";
    case Role::caseworker: return "caseworker";
    case Role::auditor: return "auditor";
  }
  return "staff";
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role r : {Role::admin, Role::staff, Role::caseworker, Role::auditor})
    if (to_string(r) == name) return r;
  return std::nullopt;
}

namespace detail {

// The roster as stored, checked against its signature and against the highest version this
// Vault has seen (FORMAT.md §8.4): a roster swapped for an older signed one while the vault
// is open is refused, not just at the next unlock.
Result<Roster> current_roster(Vault::State& s) {
  TILLID_ASSIGN(Roster r, load_roster(s.db, s.vault_id, s.signing_pk));
  if (r.version < s.roster_floor)
    return make_error(Errc::corrupt, "the users roster is version " + std::to_string(r.version) + ", older than version " +
                                         std::to_string(s.roster_floor) + " this appliance already used: it was rolled "
                                         "back (FORMAT.md §8.4); nobody can be authorised until vault.db is restored "
                                         "from backup");
  s.roster_floor = r.version;
  return r;
}

Result<void> check_roster_rollback(Vault::State& s) {
  // Once per Vault: this object holds the log's only writer lock, and every roster change it
  // logs since raises roster_floor as it commits, so a later unlock (a daemon's, after an
  // idle lock) need only compare with the floor, not read the whole log again.
  if (s.roster_log_checked) {
    auto r = current_roster(s);
    if (!r.ok()) return r.error();
    return {};
  }
  // FORMAT.md §8.4: every roster change is logged with the version it made, and the log is
  // authenticated by now (unlock ran authenticate_tail); a stored roster older than the
  // newest logged version was put back. Quarantined entries are not the appliance's word.
  // Only ok entries of these actions matter (log_quarantined ones are ok too): the rest are
  // not kept, so a daemon's first unlock over a million-entry log holds a handful of entries.
  LogQuery ok_only;
  ok_only.outcome = LogOutcome::ok;
  ok_only.actions = {LogAction::vault_init, LogAction::user_enrolled, LogAction::user_revoked,
                     LogAction::log_quarantined};
  TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries(ok_only));
  const std::vector<LogSeqRange> quarantined = quarantined_ranges(entries);
  std::uint64_t logged = 0, at_seq = 0;
  for (const auto& e : entries) {
    if (e.outcome != LogOutcome::ok || in_ranges(quarantined, e.seq)) continue;
    if (e.action != LogAction::vault_init && e.action != LogAction::user_enrolled && e.action != LogAction::user_revoked)
      continue;
    if (auto v = roster_version_in_details(e.details); v && *v > logged) {
      logged = *v;
      at_seq = e.seq;
    }
  }
  // Remembered even if the unlock stops here, so users() refuses the old roster from now on.
  s.roster_floor = std::max(s.roster_floor, logged);
  TILLID_ASSIGN(Roster r, load_roster(s.db, s.vault_id, s.signing_pk));
  if (r.version < logged)
    return make_error(Errc::corrupt, "the users roster is version " + std::to_string(r.version) +
                                         ", but the signed access log records version " + std::to_string(logged) +
                                         " (seq " + std::to_string(at_seq) + "): vault.db's roster was rolled back "
                                         "(FORMAT.md §8.4); restore vault.db from backup and tell the auditor");
  s.roster_floor = std::max(s.roster_floor, r.version);
  s.roster_log_checked = true;
  return {};
}

}  // namespace detail

Result<std::vector<User>> Vault::users() const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<std::vector<User>> {
    TILLID_ASSIGN(Roster roster, current_roster(s));
    return std::move(roster.users);
  }();
  TILLID_TRY(s.record_result(LogAction::users_listed, "", "", r, r.ok() ? std::to_string(r->size()) + " users" : ""));
  return r;
}

Result<std::optional<User>> Vault::user_by_uid(unsigned uid) const {
  // Not logged here: the daemon asks this for every request and logs its decision
  // (authz_decision) with the user it found.
  std::lock_guard lk(state_->mutex);
  TILLID_ASSIGN(Roster roster, current_roster(*state_));
  for (auto& u : roster.users)
    if (!u.revoked && u.uid && *u.uid == uid) return std::optional<User>(std::move(u));
  return std::optional<User>{};
}

Result<User> Vault::add_user(const NewUser& nu) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  std::string details;
  auto r = [&]() -> Result<User> {
    TILLID_TRY(s.require_unlocked());
    TILLID_TRY(check_new_user(nu));
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot enrol the user"));
    TILLID_ASSIGN(Roster roster, current_roster(s));
    if (roster.users.empty() && nu.role != Role::admin)
      return make_error(Errc::invalid_argument, "this vault has no users yet; its first user must be an admin");
    for (const auto& u : roster.users) {
      // Names are the log's actor ids: one name is one person for the log's whole life.
      if (u.name == nu.name)
        return make_error(Errc::already_exists, "the name " + nu.name + (u.revoked ? " belonged to a revoked user" : " is taken") +
                                                    "; names are never reused, choose another");
      if (!u.revoked && u.uid && nu.uid && *u.uid == *nu.uid)
        return make_error(Errc::already_exists, "uid " + std::to_string(*nu.uid) + " is already enrolled as " + u.name);
    }
    User made{nu.name, nu.role, nu.uid, nu.municipality, static_cast<std::int64_t>(std::time(nullptr)), false};
    roster.users.insert(std::lower_bound(roster.users.begin(), roster.users.end(), made,
                                         [](const User& a, const User& b) { return a.name < b.name; }),
                        made);
    ++roster.version;
    details = user_event_details(made, roster.version);
    // The entry must be writable before the roster changes (a name the log would refuse, e.g.
    // one shaped like a CPR number, is refused here, not after the commit).
    if (auto ok = validate(LogEvent{made.name, std::string(to_string(made.role)), LogAction::user_enrolled,
                                    LogOutcome::ok, "", "", details});
        !ok.ok())
      return make_error(Errc::invalid_argument, "the name " + nu.name + " cannot be used: " + ok.error().message);
    TILLID_TRY(store_roster(s.db, s.vault_id, s.keys->signing_sk, roster));
    TILLID_TRY(tx.commit());
    s.roster_floor = roster.version;
    return made;
  }();
  TILLID_TRY(s.record_result(LogAction::user_enrolled, "", "", r, details));
  return r;
}

Result<void> Vault::revoke_user(const std::string& name) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  std::string details;
  auto r = [&]() -> Result<void> {
    TILLID_TRY(s.require_unlocked());
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot revoke the user"));
    TILLID_ASSIGN(Roster roster, current_roster(s));
    auto it = std::find_if(roster.users.begin(), roster.users.end(), [&](const User& u) { return u.name == name; });
    if (it == roster.users.end()) return make_error(Errc::not_found, "there is no user named " + name);
    if (it->revoked) return make_error(Errc::invalid_argument, "user " + name + " is already revoked");
    if (it->role == Role::admin &&
        std::count_if(roster.users.begin(), roster.users.end(),
                      [](const User& u) { return u.role == Role::admin && !u.revoked; }) <= 1)
      return make_error(Errc::denied, name + " is the last admin; enrol another admin before revoking this one");
    it->revoked = true;
    ++roster.version;
    details = user_event_details(*it, roster.version);
    TILLID_TRY(store_roster(s.db, s.vault_id, s.keys->signing_sk, roster));
    TILLID_TRY(tx.commit());
    s.roster_floor = roster.version;
    return {};
  }();
  TILLID_TRY(s.record_result(LogAction::user_revoked, "", "", r, details));
  return r;
}

}  // namespace tillid
