// tillidd's life: open the vault and the socket, serve, keep the timers (checkpoints, idle
// lock, watchdog), and on SIGTERM/SIGINT shut down in the order the issue asks: stop
// accepting, seal the running recording, sign a final checkpoint, exit 0 (within 5 s unless a
// request in progress, such as a verify, takes longer to finish).
#include "daemon.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "daemon_impl.hpp"
#include "listener.hpp"
#include "notify.hpp"

namespace tillid::daemon {

namespace {

// Leftovers of an export a killed daemon was streaming: plaintext, so removed at start.
void remove_stale_exports(const std::filesystem::path& vault_dir) {
  std::error_code ec;
  const auto run_dir = vault_dir / "run";
  for (auto it = std::filesystem::directory_iterator(run_dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().rfind("export-", 0) == 0) {
      std::error_code rm;
      std::filesystem::remove_all(it->path(), rm);
    }
  }
}

}  // namespace

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::open(const std::filesystem::path& vault_dir, Config config,
                                             std::optional<Passphrase> unlock_with) {
  TILLID_ASSIGN(Vault vault, Vault::open(vault_dir, daemon_actor()));
  // Checkpoints are signed by our timer, within checkpoint.max_delay_ms of an entry, rather
  // than after each one (LOG-FORMAT §3): one signature per burst of requests.
  vault.defer_checkpoints(true);
  remove_stale_exports(vault_dir);
  auto impl = std::make_unique<Impl>(std::move(vault), std::move(config), vault_dir);
  TILLID_ASSIGN(int fd, bind_control_socket(impl->config.socket, impl->config.socket_mode));
  boost::system::error_code ec;
  impl->acceptor.emplace(impl->io);
  impl->acceptor->assign(asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return make_error(Errc::io, "cannot serve the control socket: " + ec.message());
  }
  TILLID_TRY(impl->gate.with(daemon_actor(), [](Vault& v) {
    return v.log_event(LogAction::daemon_started, LogOutcome::ok, std::string("tillidd ") + kVersion);
  }));
  // unlock.credential (CONFIG.md [unlock]): an unattended start. The log names the daemon as
  // the actor and "credential" as where the passphrase came from (no person typed it; the
  // entry's "slot N" says which passphrase). No authz_decision: no one asked. A wrong
  // passphrase is a refused unlock like any other, and the vault stays locked for an officer.
  if (unlock_with) {
    auto unlocked = impl->gate.with(Actor{"tillidd", "credential"}, [&](Vault& v) { return v.unlock(*unlock_with); });
    unlock_with.reset();  // sodium_free zeroes it
    if (!unlocked)
      std::cerr << "tillidd: unlock.credential: the vault stays locked: " << unlocked.error().message << "\n";
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

void Daemon::Impl::reap_sessions() {
  std::lock_guard lk(sessions_mu);
  for (auto it = sessions.begin(); it != sessions.end();) {
    if ((*it)->done) {
      if ((*it)->worker.joinable()) (*it)->worker.join();
      it = sessions.erase(it);
    } else {
      ++it;
    }
  }
}

void Daemon::Impl::accept_next() {
  acceptor->async_accept([this](const boost::system::error_code& ec, asio::local::stream_protocol::socket sock) {
    if (stopping) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        std::cerr << "tillidd: accept failed: " << ec.message() << "\n";
        // EMFILE and friends: wait a little rather than spin.
        auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
        t->async_wait([this, t](const boost::system::error_code&) { accept_next(); });
      }
      return;
    }
    reap_sessions();
    std::lock_guard lk(sessions_mu);
    if (sessions.size() >= config.max_clients) {
      // Over the limit: a short refusal the client can print, then close. The socket is
      // non-blocking here; a peer that cannot take a few bytes just sees the close.
      if (auto frame = control::encode_json_frame(control::reply_error(
              make_error(Errc::io, "tillidd is serving its maximum number of clients; try again"))))
        (void)::send(sock.native_handle(), frame->data(), frame->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
      boost::system::error_code rel;
      auto slot = std::make_unique<SessionSlot>();
      sock.non_blocking(false, rel);
      slot->fd = sock.release(rel);
      if (!rel) {
        SessionSlot& s = *slot;
        sessions.push_back(std::move(slot));
        s.worker = std::thread([this, &s] { serve_connection(*this, s); });
      }
    }
    accept_next();
  });
}

// The timers fire on the io thread, which must never wait for the vault (a verify may hold it
// for minutes); their vault work runs on the upkeep thread, in turn with the requests.
void Daemon::Impl::schedule_checkpoint(std::chrono::milliseconds after) {
  checkpoint_timer->expires_after(after);
  checkpoint_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    asio::post(upkeep_pool, [this] {
      gate.upkeep([](Vault& v) {
        if (!v.is_unlocked()) return;
        if (auto signed_ = v.sign_pending_checkpoint(); !signed_)
          std::cerr << "tillidd: cannot sign a checkpoint: " << signed_.error().message << "\n";
      });
      // The next one max_delay_ms after this one was signed: entries wait at most that long
      // plus one turn at the gate (LOG-FORMAT §3).
      asio::post(io, [this] {
        if (!stopping) schedule_checkpoint(config.checkpoint_max_delay);
      });
    });
  });
}

void Daemon::Impl::schedule_idle_check() {
  if (config.idle_lock.count() == 0) return;
  // Checked often enough that the lock comes at most a quarter late (and at most 5 s).
  idle_timer->expires_after(std::min<std::chrono::milliseconds>(std::chrono::seconds(5), config.idle_lock / 4));
  idle_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    asio::post(upkeep_pool, [this] {
      // Asked before taking the gate: the desk takes the gate while it holds its own lock.
      const bool recording = desk.active();
      gate.upkeep([this, recording](Vault& v) {
        // Decided under the gate, so a request that just ran counts.
        const auto idle_for = std::chrono::steady_clock::now() - gate.last_use();
        if (recording || !v.is_unlocked() || idle_for < config.idle_lock) return;
        (void)v.sign_pending_checkpoint();  // the last entries, while the key is still there
        if (auto locked = v.lock(); !locked)
          std::cerr << "tillidd: idle auto-lock failed: " << locked.error().message << "\n";
        else
          std::cerr << "tillidd: locked: idle for lock.idle_minutes\n";
      });
      asio::post(io, [this] {
        if (!stopping) schedule_idle_check();
      });
    });
  });
}

void Daemon::Impl::schedule_watchdog() {
  if (watchdog_interval.count() == 0) return;
  watchdog_timer->expires_after(watchdog_interval);
  watchdog_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    notify_watchdog();
    schedule_watchdog();
  });
}

void Daemon::Impl::shut_down(int signal_number) {
  if (stopping.exchange(true)) return;
  std::cerr << "tillidd: stopping (signal " << signal_number << ")\n";
  notify_stopping();
  boost::system::error_code ec;
  acceptor->close(ec);
  std::error_code rm;
  std::filesystem::remove(config.socket, rm);
  if (checkpoint_timer) checkpoint_timer->cancel();
  if (idle_timer) idle_timer->cancel();
  upkeep_pool.join();  // an upkeep already running finishes; none starts

  // The recording first: its audio so far is encoded, stored and sealed by its own thread.
  if (desk.active()) {
    auto sealed = desk.stop(daemon_actor());
    if (!sealed) std::cerr << "tillidd: the recording could not be sealed: " << sealed.error().message << "\n";
  }
  // Wake every worker blocked on its socket; a request in a vault call finishes first.
  {
    std::lock_guard lk(sessions_mu);
    for (auto& s : sessions)
      if (s->fd >= 0) ::shutdown(s->fd, SHUT_RDWR);
  }
  for (;;) {
    std::unique_ptr<SessionSlot> s;
    {
      std::lock_guard lk(sessions_mu);
      if (sessions.empty()) break;
      s = std::move(sessions.front());
      sessions.pop_front();
    }
    if (s->worker.joinable()) s->worker.join();
  }
  auto done = gate.upkeep([](Vault& v) -> Result<void> {
    TILLID_TRY(v.log_event(LogAction::daemon_stopped, LogOutcome::ok, "signal"));
    if (v.is_unlocked()) TILLID_TRY(v.sign_pending_checkpoint());
    return {};
  });
  if (!done) std::cerr << "tillidd: the final log entry or checkpoint failed: " << done.error().message << "\n";
  if (watchdog_timer) watchdog_timer->cancel();
  io.stop();
}

int Daemon::run() {
  Impl& d = *impl_;
  d.signals.emplace(d.io, SIGTERM, SIGINT);
  d.signals->async_wait([&d](const boost::system::error_code& ec, int sig) {
    if (!ec) d.shut_down(sig);
  });
  d.checkpoint_timer.emplace(d.io);
  d.idle_timer.emplace(d.io);
  d.watchdog_timer.emplace(d.io);
  d.watchdog_interval = watchdog_interval();
  d.accept_next();
  d.schedule_checkpoint(d.config.checkpoint_max_delay);
  d.schedule_idle_check();
  d.schedule_watchdog();
  notify_ready();
  const bool unlocked = d.gate.upkeep([](Vault& v) { return v.is_unlocked(); });
  std::cerr << "tillidd " << kVersion
            << (unlocked ? ": serving (vault unlocked by unlock.credential)\n"
                         : ": serving (vault locked until `tillid unlock`)\n");
  d.io.run();
  return 0;
}

}  // namespace tillid::daemon
