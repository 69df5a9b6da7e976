// Entry point of `tillid`: global options, subcommand dispatch, exit codes.
#include <sodium.h>
#include <unistd.h>
#include <csignal>

#include <cstdlib>
#include <iostream>

#include "cli.hpp"
#include "daemon_link.hpp"
#include "output.hpp"

namespace tillid::cli {

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::corrupt: return kVerifyFailed;
    case Errc::invalid_argument: return kUsage;
    case Errc::wrong_passphrase:
    case Errc::locked:
    case Errc::denied: return kAuth;
    case Errc::not_found: return kNotFound;
    case Errc::io:
    case Errc::no_space: return kIo;
    case Errc::not_a_vault:
    case Errc::unsupported: return kNotAVault;
    case Errc::already_exists: return kExists;
    case Errc::last_key_slot: return kUsage;
    case Errc::internal: return kInternal;
  }
  return kInternal;
}

int fail(const Error& error) {
  // Messages quote what the user gave (case numbers, file names): printable() like any output.
  std::cerr << "tillid: " << printable(error.message) << "\n";
  return is_unreachable(error) ? kNoDaemon : exit_code_for(error.code);
}

Result<void> require_vault_dir(const GlobalOptions& g) {
  if (g.vault.empty())
    return make_error(Errc::invalid_argument, "no vault given: pass --vault DIR or set TILLID_VAULT");
  return {};
}

}  // namespace tillid::cli

namespace {

const char* kExitCodes =
    "Exit codes: 0 ok; 1 verification failed or data tampered; 2 bad usage; 3 wrong passphrase "
    "or not allowed; 4 not found; 5 I/O error or disk full; 6 not a vault; 7 already exists; "
    "8 access log holds entries the appliance does not vouch for: quarantined or not yet signed (audit verify); "
    "9 cannot reach the daemon tillidd; 70 internal error.";

const char* kGlobalOptionsNote =
    "Global options (--vault, --socket, --json, --passphrase-file) may come before or after the command.\n"
    "Every command but init, verify-export, audit check-proof and audit ... --log DIR is a request to the daemon\n"
    "tillidd on its control socket (--socket, else VAULT/run/control.sock); it knows who you are from your uid.";

}  // namespace

int main(int argc, char** argv) {
  using namespace tillid::cli;
  // Before anything else: this process will hold keys, names and audio (issue 10, class 7).
  if (auto off = tillid::disable_core_dumps(); !off) {
    std::cerr << "tillid: " << off.error().message << "; refusing to handle evidence in a process that could dump core\n";
    return kInternal;
  }
  if (sodium_init() < 0) {
    std::cerr << "tillid: libsodium failed to initialise\n";
    return kInternal;
  }
  CLI::App app{"Tillid: encrypted evidence vault for forensic interviews.", "tillid"};
  app.footer(std::string(kGlobalOptionsNote) + "\n" + kExitCodes);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  // Global options are also accepted after the subcommand (`tillid ls --json`), as in git:
  // an option a subcommand does not know falls through to its parent. Set before the
  // subcommands are added, which inherit it.
  app.fallthrough();

  GlobalOptions g;
  app.add_option("--vault", g.vault, "Vault directory")->envname("TILLID_VAULT");
  app.add_flag("--json", g.json, "Print machine-readable JSON instead of text");
  app.add_option("--passphrase-file", g.passphrase_file,
                 "Read the passphrase from FILE (first line) instead of prompting")
      ->envname("TILLID_PASSPHRASE_FILE");
  // Sending a request to a daemon that went away must fail with EPIPE, not kill the client.
  ::signal(SIGPIPE, SIG_IGN);
  app.add_option("--socket", g.socket, "The daemon's control socket (default: VAULT/run/control.sock)")
      ->envname("TILLID_SOCKET");

  Action action;
  register_vault_commands(app, g, action);
  register_user_commands(app, g, action);
  register_record_commands(app, g, action);
  register_export_commands(app, g, action);
  register_audit_commands(app, g, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 quotes the offending argument: print its message through printable() too.
    if (e.get_exit_code() != 0) {
      std::cerr << "tillid: " << printable(e.what()) << "\nRun with --help for more information.\n";
      return kUsage;
    }
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (!action) return kUsage;
  try {
    return action();
  } catch (const std::exception& e) {
    std::cerr << "tillid: internal error: " << e.what() << "\n";
    return kInternal;
  }
}
