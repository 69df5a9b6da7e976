// The `tillid` command's shared pieces: global options, exit codes, and how each group of
// subcommands registers itself. The command is a thin client of the daemon `tillidd`
// (firmware/CONTROL-PROTOCOL.md): it reads what the user gives (files, identifying values,
// passphrases), sends requests over the control socket and prints the replies. Only `init`,
// `verify-export` and the offline auditor's commands (`audit … --log DIR`, `audit
// check-proof`) work without a daemon; the daemon holds the keys and decides who may do what.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "tillid/result.hpp"
#include "tillid/vault.hpp"

namespace tillid::cli {

// Exit codes (documented in README.md and `tillid --help`).
enum Exit : int {
  kOk = 0,
  kVerifyFailed = 1,   // evidence or log failed verification, or data is corrupt/tampered
  kUsage = 2,          // bad command line
  kAuth = 3,           // wrong passphrase, locked, or not allowed for this user
  kNotFound = 4,       // no such vault item, case, key slot, user or file
  kIo = 5,             // I/O error or disk full
  kNotAVault = 6,      // directory is not a Tillid vault / unsupported version
  kExists = 7,         // would overwrite something that exists
  kLogQuarantined = 8, // audit verify: entries the appliance does not vouch for (LOG-FORMAT.md §3.4)
  kNoDaemon = 9,       // the daemon tillidd cannot be reached on its control socket
  kInternal = 70,      // a bug; please report
};

int exit_code_for(Errc code);

struct GlobalOptions {
  std::filesystem::path vault;                       // finds the default socket and, for init, the vault
  std::optional<std::filesystem::path> socket;       // --socket / TILLID_SOCKET
  bool json = false;
  std::optional<std::filesystem::path> passphrase_file;
};

// A parsed subcommand's work, run after parsing; returns an exit code.
using Action = std::function<int()>;

// Print an Error as "tillid: <message>" on stderr and return its exit code.
int fail(const Error& error);

Result<void> require_vault_dir(const GlobalOptions& g);

void register_vault_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_user_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_record_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_export_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_audit_commands(CLI::App& app, GlobalOptions& g, Action& action);

}  // namespace tillid::cli
