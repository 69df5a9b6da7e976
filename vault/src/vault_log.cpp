// How the vault writes its operations into the access log (the seam in vault_state.hpp).
#include "vault_state.hpp"

namespace tillid {

namespace detail {
std::string log_origin(const Id16& vault_id) { return "tillid.local/" + to_hex(vault_id); }
}  // namespace detail

namespace {

LogEvent event_of(const Actor& actor, LogAction action, std::string_view case_id, std::string_view item_id,
                  LogOutcome outcome, std::string_view details) {
  LogEvent event;
  event.actor_id = actor.id;
  event.actor_role = actor.role;
  event.action = action;
  event.outcome = outcome;
  event.case_id = std::string(case_id);
  event.item_id = std::string(item_id);
  event.details = std::string(details);
  return event;
}

Error not_written(const Error& e) {
  return make_error(e.code, "the operation was not completed because its access-log entry could not be written: " +
                                e.message);
}

}  // namespace

Result<void> Vault::State::record_event(LogAction action, std::string_view case_id,
                                        std::string_view item_id, LogOutcome outcome,
                                        std::string_view details) {
  if (!log) return make_error(Errc::internal, "the access log is not open");
  auto appended = log->append(event_of(actor, action, case_id, item_id, outcome, details));
  if (!appended) return not_written(appended.error());
  // A checkpoint after every write batch: auditors can pin the log right after any access.
  // Deferred (a daemon), the caller's timer signs within a second instead: one signature
  // covers many requests and no request waits for it (LOG-FORMAT.md §4).
  if (keys && !defer_checkpoints) {
    auto cp = log->sign_checkpoint(keys->signing_sk, signing_pk);
    if (!cp) return make_error(cp.error().code, "cannot sign an access-log checkpoint: " + cp.error().message);
  }
  return {};
}

void Vault::defer_checkpoints(bool on) {
  std::lock_guard lk(state_->mutex);
  state_->defer_checkpoints = on;
}

Result<bool> Vault::sign_pending_checkpoint() {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  if (!s.log) return make_error(Errc::internal, "the access log is not open");
  // Locked: there is no key to sign with; the entries wait for the next unlock, which
  // authenticates (or quarantines) them before it signs (LOG-FORMAT.md §3.4).
  if (!s.keys) return false;
  const auto latest = s.log->latest_checkpoint();
  const std::uint64_t size = s.log->size();
  if (size == 0 || (latest && latest->size == size)) return false;
  auto cp = s.log->sign_checkpoint(s.keys->signing_sk, s.signing_pk);
  if (!cp) return make_error(cp.error().code, "cannot sign an access-log checkpoint: " + cp.error().message);
  return true;
}

std::string Vault::log_verifier_key() const {
  std::lock_guard lk(state_->mutex);
  return tillid::log_verifier_key(detail::log_origin(state_->vault_id), state_->signing_pk);
}

Result<std::string> Vault::latest_checkpoint() const {
  std::lock_guard lk(state_->mutex);
  if (!state_->log) return make_error(Errc::internal, "the access log is not open");
  auto cp = state_->log->latest_checkpoint();
  if (!cp) return make_error(Errc::not_found, "the access log has no signed checkpoint yet; unlock the vault once to sign one");
  return cp->note;
}

std::filesystem::path Vault::log_dir() const { return state_->log_dir(); }

void Vault::set_actor(Actor actor) {
  std::lock_guard lk(state_->mutex);
  state_->actor = std::move(actor);
}

Result<void> Vault::log_event(LogAction action, LogOutcome outcome, std::string_view details,
                              std::string_view case_id, std::string_view item_id) {
  // The log's own bounds (LOG-FORMAT.md §2) refuse identifying or malformed details.
  std::lock_guard lk(state_->mutex);
  return state_->record_event(action, case_id, item_id, outcome, details);
}

Result<void> Vault::log_event_as(const Actor& as, LogAction action, LogOutcome outcome, std::string_view details,
                                 std::string_view case_id, std::string_view item_id) {
  State& s = *state_;
  AccessLog* log = nullptr;
  {
    std::lock_guard lk(s.mutex);
    if (!s.log) return make_error(Errc::internal, "the access log is not open");
    // The log is opened with the Vault and lives as long as it (vault.cpp open()).
    log = &*s.log;
  }
  // Outside the vault's mutex: AccessLog serialises its own appenders and group-commits those
  // that wait together (access_log.cpp), and append() returns only after the fdatasync, so the
  // caller still acts on nothing unlogged. Unlock and lock meanwhile are safe: the log waits
  // for an in-flight batch before it changes its entry key (LOG-FORMAT.md §3.4).
  auto appended = log->append(event_of(as, action, case_id, item_id, outcome, details));
  if (!appended) return not_written(appended.error());
  std::lock_guard lk(s.mutex);
  if (s.keys && !s.defer_checkpoints) {  // as record_event (LOG-FORMAT.md §4)
    auto cp = s.log->sign_checkpoint(s.keys->signing_sk, s.signing_pk);
    if (!cp) return make_error(cp.error().code, "cannot sign an access-log checkpoint: " + cp.error().message);
  }
  return {};
}

Result<void> Vault::State::record_failure(LogAction action, std::string_view case_id,
                                          std::string_view item_id, const Error& error) {
  const bool refused = error.code == Errc::wrong_passphrase || error.code == Errc::locked ||
                       error.code == Errc::denied;
  return record_event(action, case_id, item_id, refused ? LogOutcome::refused : LogOutcome::failed,
                      to_string(error.code));
}

}  // namespace tillid
