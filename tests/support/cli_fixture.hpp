// A vault made through the real `tillid` command in a temporary directory, served by the real
// daemon `tillidd`. Root ran `tillid init` and is the vault's admin; the fixture enrols a staff
// user (uid 61001) and an auditor (uid 61002), and each `tillid(ARGS)` runs the client as the
// role the command needs (key, user, unlock, lock: admin; audit: auditor; the rest: staff).
// By default the daemon is stopped after every command, so the vault is closed between
// commands as the attacker-style tests assume (they edit bytes, then run the real verifiers);
// `persistent` keeps one daemon running (recordings) until close().
#pragma once

#include <sys/stat.h>

#include <functional>
#include <optional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon.hpp"
#include "test_support.hpp"

namespace tillid::test {

struct CliOptions {
  bool persistent = false;       // one daemon for many commands (record tests)
  std::string extra_config;      // more TOML for tillidd (e.g. a [recording] table)
  bool init = true;              // false: the test puts a vault at `vault` itself (a vector)
  // Runs once, before the first daemon starts (e.g. enrolling users in a vector's vault).
  std::function<void()> before_first_daemon;

  // One daemon kept for the whole test, with `config` added to its configuration.
  static CliOptions kept(std::string config = "") {
    CliOptions o;
    o.persistent = true;
    o.extra_config = std::move(config);
    return o;
  }
};

struct CliVault {
  TempDir tmp;
  fs::path vault = tmp / "vault";
  fs::path pass = tmp / "pass.txt";
  fs::path run_dir = tmp / "run";
  fs::path socket = run_dir / "control.sock";
  fs::path config = tmp / "tillidd.toml";
  mutable CliOptions options;
  mutable std::optional<Daemon> daemon;
  mutable int daemon_runs = 0;

  explicit CliVault(CliOptions opts = {}) : options(std::move(opts)) {
    require_root_for_roles();
    // Inputs the tests write must be readable by the staff and auditor uids: a umask of 022
    // (CI's) makes them 0644. The umask is the test's to set (vault_files_test sets 000).
    // Outputs: the staff uid writes fetched files and bundles here, as a user writes to /tmp
    // (sticky, world-writable); the vault inside stays 0700, root's.
    ::chmod(tmp.path().c_str(), 01777);
    fs::create_directory(run_dir);
    ::chmod(run_dir.c_str(), 0755);
    // The socket reachable by every local uid: the daemon decides by SO_PEERCRED, not modes.
    write_file(config, "[control]\nsocket = \"" + socket.string() + "\"\nsocket_mode = 0o666\n" + options.extra_config);
    write_file(pass, "correct horse battery staple\n");
    if (!options.init) return;
    auto r = tillid({"init", "--kdf", "minimum"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    enrol(TestUids::staff, "staff1", "staff");
    enrol(TestUids::auditor, "auditor1", "auditor");
    if (!options.persistent) close();
  }
  ~CliVault() { close(); }
  CliVault(const CliVault&) = delete;
  CliVault& operator=(const CliVault&) = delete;

  void enrol(unsigned uid, const std::string& name, const std::string& role) const {
    auto r = as(TestUids::admin, {"user", "add", name, "--role", role, "--uid", std::to_string(uid)});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  // The full command line for `tillid ARGS` on this vault (its socket, the passphrase file
  // for the unlock a locked daemon needs).
  std::vector<std::string> argv(std::vector<std::string> args) const { return argv_with(pass, std::move(args)); }
  // The same with another passphrase file, or none.
  std::vector<std::string> argv_with(const std::optional<fs::path>& pass_file, std::vector<std::string> args) const {
    std::vector<std::string> a{tillid_program().string(), "--vault", vault.string(), "--socket", socket.string()};
    if (pass_file) a.insert(a.end(), {"--passphrase-file", pass_file->string()});
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  // The uid a command runs as: the role it needs (plan-i11 harness).
  static int uid_for(const std::vector<std::string>& args) {
    for (const auto& a : args) {
      if (a.empty() || a[0] == '-') continue;
      if (a == "init" || a == "key" || a == "user" || a == "unlock" || a == "lock") return TestUids::admin;
      if (a == "audit") return static_cast<int>(TestUids::auditor);
      return static_cast<int>(TestUids::staff);
    }
    return static_cast<int>(TestUids::staff);
  }

  // Starts the daemon unless it runs; true if it was started now.
  bool ensure_daemon() const {
    if (daemon && daemon->running()) return false;
    if (options.before_first_daemon) {
      auto hook = std::move(options.before_first_daemon);
      options.before_first_daemon = nullptr;
      hook();
    }
    daemon.reset();
    // The daemon's own output beside its socket, out of the way of tests that list tmp.
    daemon.emplace(vault, config, socket, run_dir / ("tillidd-" + std::to_string(daemon_runs++) + ".log"));
    return true;
  }

  // Stops the daemon (SIGTERM); it must exit 0. The vault is closed afterwards.
  void close() const {
    if (!daemon) return;
    const bool was_running = daemon->running();
    const int rc = daemon->stop();
    if (was_running) {
      INFO("tillidd's log:\n" << daemon->log_text());
      CHECK(rc == 0);
    }
    daemon.reset();
  }

  // The daemon unlocked by the admin (root), as the appliance is during the day.
  void unlock() const {
    ensure_daemon();
    auto r = run(argv({"unlock"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  // The same, but a vault that refuses to unlock (an attack test's doing) is left locked: the
  // command that follows reports why.
  void try_unlock() const {
    ensure_daemon();
    (void)run(argv({"unlock"}));
  }

  // `tillid ARGS` as the role the command needs.
  RunResult tillid(std::vector<std::string> args) const {
    const int uid = uid_for(args);
    return as(uid, std::move(args));
  }

  // `tillid ARGS` as `uid` (TestUids), whatever the command, on an unlocked daemon: a daemon
  // started for the command is first unlocked by the admin, as the appliance is during the
  // day (an auditor cannot unlock; and a command refused while locked would leave that refusal
  // in the log the tests read). as_with() meets the locked daemon instead.
  RunResult as(int uid, std::vector<std::string> args) const {
    const bool offline = std::find(args.begin(), args.end(), "init") != args.end() && uid_for(args) == TestUids::admin;
    if (!offline && ensure_daemon()) try_unlock();
    return finish(run(argv(std::move(args)), {}, uid));
  }

  // `tillid ARGS` as `uid` with another passphrase file (or none), on the daemon as it is
  // (a fresh daemon is locked).
  RunResult as_with(int uid, const std::optional<fs::path>& pass_file, std::vector<std::string> args) const {
    ensure_daemon();
    return finish(run(argv_with(pass_file, std::move(args)), {}, uid));
  }

  // `tillid ARGS` as staff with no daemon running at all (usage errors are caught first).
  RunResult without_daemon(std::vector<std::string> args) const {
    close();
    return run(argv(std::move(args)), {}, static_cast<int>(TestUids::staff));
  }

  RunResult finish(RunResult r) const {
    // A daemon that refused to start says why in its log; the client only "cannot reach" it.
    if (daemon && daemon->start_failed()) r.err += "\ntillidd: " + daemon->log_text();
    if (!options.persistent) close();
    return r;
  }

  // Identifying values never go on argv (issue 10, class 8): this writes them as the JSON
  // document `--fields FILE` reads and returns the file's path.
  std::string fields(const nlohmann::json& values) const {
    static int counter = 0;
    const fs::path p = tmp / ("fields-" + std::to_string(counter++) + ".json");
    write_file(p, values.dump());
    ::chmod(p.c_str(), 0644);
    return p.string();
  }

  nlohmann::json json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    auto r = tillid(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  }
};

}  // namespace tillid::test
