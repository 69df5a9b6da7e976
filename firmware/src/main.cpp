// `tillidd --vault DIR [--config FILE] [--version]`: the appliance daemon, in the foreground
// (systemd supervises it; firmware/README.md). Exit codes: 0 after SIGTERM/SIGINT, 1 when it
// cannot start, 2 for a bad command line or configuration (a missing unlock.credential too).
#include <sodium.h>

#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config.hpp"
#include "daemon.hpp"
#include "tillid/secret.hpp"

int main(int argc, char** argv) {
  using namespace tillid::daemon;
  // First: this process will hold the vault's keys, names and audio (issue 10, class 7).
  if (auto off = tillid::disable_core_dumps(); !off) {
    std::cerr << "tillidd: " << off.error().message << "; refusing to hold keys in a process that could dump core\n";
    return 1;
  }
  if (sodium_init() < 0) {
    std::cerr << "tillidd: libsodium failed to initialise\n";
    return 1;
  }
  // A client that goes away mid-reply must cost an EPIPE on that connection, never the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"tillidd: the Tillid appliance daemon. Hosts one vault, its recorder and its access log, "
               "and serves the local control socket (firmware/README.md).",
               "tillidd"};
  std::filesystem::path vault_dir;
  std::optional<std::filesystem::path> config_file;
  app.add_option("--vault", vault_dir, "Vault directory (made with `tillid init`)")->required();
  app.add_option("--config", config_file, "TOML configuration file (firmware/CONFIG.md); defaults without it");
  app.set_version_flag("--version", std::string("tillidd ") + kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  vault_dir = std::filesystem::absolute(vault_dir).lexically_normal();

  auto config = config_file ? load_config(*config_file, vault_dir) : tillid::Result<Config>(default_config(vault_dir));
  if (!config) {
    std::cerr << "tillidd: configuration: " << config.error().message << "\n";
    return 2;
  }
  // unlock.credential: the passphrase is read before the vault is opened, so a missing
  // credential is a configuration error (exit 2) rather than a daemon that quietly stays locked.
  std::optional<tillid::Passphrase> unlock_with;
  if (config->unlock_credential) {
    auto pass = read_unlock_credential(*config->unlock_credential);
    if (!pass) {
      std::cerr << "tillidd: configuration: " << pass.error().message << "\n";
      return 2;
    }
    unlock_with = std::move(pass).value();
  }
  auto daemon = Daemon::open(vault_dir, std::move(config).value(), std::move(unlock_with));
  if (!daemon) {
    std::cerr << "tillidd: cannot start: " << daemon.error().message << "\n";
    return 1;
  }
  try {
    return (*daemon)->run();
  } catch (const std::exception& e) {
    std::cerr << "tillidd: internal error: " << e.what() << "\n";
    return 70;
  }
}
