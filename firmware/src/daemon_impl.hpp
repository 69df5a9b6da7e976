// Daemon::Impl, shared by daemon.cpp (start, io loop, timers, shutdown) and session.cpp (one
// connection's requests). Not part of the library's surface.
#pragma once

#include <utility>  // before Asio (Boost 1.74 needs it with C++20)

#include <boost/asio.hpp>

#include <atomic>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "daemon.hpp"
#include "handlers.hpp"
#include "recording_desk.hpp"
#include "vault_gate.hpp"

namespace tillid::daemon {

namespace asio = boost::asio;

// One accepted connection and the worker thread serving it.
struct SessionSlot {
  int fd = -1;             // owned by the worker's Connection; shutdown() only from here
  std::thread worker;
  std::atomic<bool> done{false};
};

struct Daemon::Impl {
  Impl(Vault v, Config c, std::filesystem::path dir)
      : vault(std::move(v)), config(std::move(c)), vault_dir(std::move(dir)), gate(vault), desk(gate),
        services{gate, desk, config, vault_dir, kVersion} {}

  Vault vault;
  Config config;
  std::filesystem::path vault_dir;
  VaultGate gate;
  RecordingDesk desk;
  Services services;

  asio::io_context io;
  std::optional<asio::local::stream_protocol::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::optional<asio::steady_timer> checkpoint_timer, idle_timer, watchdog_timer;
  std::chrono::microseconds watchdog_interval{0};
  asio::thread_pool upkeep_pool{1};  // the timers' vault work (daemon.cpp)

  std::atomic<bool> stopping{false};
  std::mutex sessions_mu;
  std::list<std::unique_ptr<SessionSlot>> sessions;

  void accept_next();
  void reap_sessions();  // joins finished workers (io thread)
  void schedule_checkpoint(std::chrono::milliseconds after);
  void schedule_idle_check();
  void schedule_watchdog();
  void shut_down(int signal_number);
};

// The worker's body: hello, then requests until the peer leaves, breaks the protocol, stalls
// past the deadline, or the daemon stops (session.cpp).
void serve_connection(Daemon::Impl& d, SessionSlot& slot);

}  // namespace tillid::daemon
