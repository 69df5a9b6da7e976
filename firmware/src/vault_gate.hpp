// The daemon's one door to the Vault. Every call made for a request goes through with(),
// which holds one mutex across set_actor() and the call, so each access-log entry names the
// user the call served even when many connections are active (plan-i11 "vault calls
// serialised"). It also remembers when the vault was last used, for the idle auto-lock.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <utility>

#include "tillid/vault.hpp"

namespace tillid::daemon {

// The daemon's own entries (start, stop, timers) are made as this actor.
inline Actor daemon_actor() { return Actor{"tillidd", "daemon"}; }

class VaultGate {
 public:
  explicit VaultGate(Vault& vault) : vault_(vault) { touch(); }
  VaultGate(const VaultGate&) = delete;
  VaultGate& operator=(const VaultGate&) = delete;

  template <class F>
  auto with(const Actor& who, F&& f) -> decltype(f(std::declval<Vault&>())) {
    std::lock_guard lk(mu_);
    vault_.set_actor(who);
    touch();
    return f(vault_);
  }

  // For the io thread's timers, which must never wait behind a long request (a verify):
  // returns an unlocked lock if a request holds the vault now; the timer tries again soon.
  template <class F>
  bool try_with(const Actor& who, F&& f) {
    std::unique_lock lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) return false;
    vault_.set_actor(who);
    f(vault_);
    return true;
  }

  void touch() { last_use_ = std::chrono::steady_clock::now().time_since_epoch().count(); }
  std::chrono::steady_clock::time_point last_use() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_use_.load()));
  }

 private:
  Vault& vault_;
  std::mutex mu_;
  std::atomic<std::chrono::steady_clock::rep> last_use_{0};
};

}  // namespace tillid::daemon
