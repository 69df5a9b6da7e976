// The daemon's one door to the Vault. Every call made for a request goes through with(),
// which holds one lock across set_actor() and the call, so each access-log entry names the
// user the call served even when many connections are active (plan-i11 "vault calls
// serialised"). The lock is first come, first served: with dozens of clients an ordinary
// mutex lets some threads win again and again while one waits for hundreds of requests, and
// the timers' checkpoint would wait as long. It also remembers when a request last used the
// vault, for the idle auto-lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

#include "tillid/vault.hpp"

namespace tillid::daemon {

// The daemon's own entries (start, stop, timers) are made as this actor.
inline Actor daemon_actor() { return Actor{"tillidd", "daemon"}; }

// A mutex that grants the lock in the order it was asked for.
class FairMutex {
 public:
  void lock() {
    std::unique_lock lk(m_);
    if (!locked_ && queue_.empty()) {
      locked_ = true;
      return;
    }
    std::condition_variable mine;
    queue_.push_back(&mine);
    mine.wait(lk, [&] { return !locked_ && queue_.front() == &mine; });
    queue_.pop_front();
    locked_ = true;
  }
  void unlock() {
    std::lock_guard lk(m_);
    locked_ = false;
    if (!queue_.empty()) queue_.front()->notify_one();
  }

 private:
  std::mutex m_;
  bool locked_ = false;
  std::deque<std::condition_variable*> queue_;
};

// Shared turns for authorisations, exclusive ones for roster changes. A waiting change stops
// new shared turns, so a stream of requests cannot keep a revocation waiting for ever.
class RosterTurns {
 public:
  void lock_shared() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !changing_; });
    ++shared_;
  }
  void unlock_shared() {
    std::lock_guard lk(m_);
    if (--shared_ == 0) cv_.notify_all();
  }
  void lock() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !changing_; });
    changing_ = true;
    cv_.wait(lk, [&] { return shared_ == 0; });
  }
  void unlock() {
    std::lock_guard lk(m_);
    changing_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int shared_ = 0;
  bool changing_ = false;
};

class VaultGate {
 public:
  explicit VaultGate(Vault& vault) : vault_(vault) { touch(); }
  VaultGate(const VaultGate&) = delete;
  VaultGate& operator=(const VaultGate&) = delete;

  // A call for a request (it counts as use of the vault).
  template <class F>
  auto with(const Actor& who, F&& f) -> decltype(f(std::declval<Vault&>())) {
    std::lock_guard lk(mu_);
    vault_.set_actor(who);
    touch();
    return f(vault_);
  }

  // Who a request is for, its authorisation and its authz_decision entry: not a turn at the
  // gate (the entry names its actor itself, Vault::log_event_as, and the vault's own mutex is
  // held only briefly, so concurrent requests share the log's fdatasync), but a shared turn
  // of the roster: roster_change() waits until no authorisation is in flight. It counts as
  // use, like with().
  template <class F>
  auto authorize(F&& f) -> decltype(f(std::declval<Vault&>())) {
    roster_.lock_shared();
    struct Release {
      RosterTurns& r;
      ~Release() { r.unlock_shared(); }
    } release{roster_};
    touch();
    return f(vault_);
  }

  // A call that changes the roster (enrol, revoke): alone with respect to authorize(), then in
  // turn at the gate like with().
  template <class F>
  auto roster_change(const Actor& who, F&& f) -> decltype(f(std::declval<Vault&>())) {
    roster_.lock();
    struct Release {
      RosterTurns& r;
      ~Release() { r.unlock(); }
    } release{roster_};
    return with(who, std::forward<F>(f));
  }

  // The daemon's own upkeep (checkpoints, the idle lock): in turn like any call, as the
  // daemon, and not counted as use.
  template <class F>
  auto upkeep(F&& f) -> decltype(f(std::declval<Vault&>())) {
    std::lock_guard lk(mu_);
    vault_.set_actor(daemon_actor());
    return f(vault_);
  }

  std::chrono::steady_clock::time_point last_use() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_use_.load()));
  }

 private:
  void touch() { last_use_ = std::chrono::steady_clock::now().time_since_epoch().count(); }
  Vault& vault_;
  FairMutex mu_;
  RosterTurns roster_;
  std::atomic<std::chrono::steady_clock::rep> last_use_{0};
};

}  // namespace tillid::daemon
