// The `tillid` command's shared pieces: global options, exit codes, and how each group of
// subcommands registers itself. The command is a thin layer: it parses, calls the libraries,
// and prints; all decisions about evidence live in vault/ and capture/.
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
  kAuth = 3,           // wrong passphrase, locked, or denied
  kNotFound = 4,       // no such vault item, case, key slot or file
  kIo = 5,             // I/O error or disk full
  kNotAVault = 6,      // directory is not a Tillid vault / unsupported version
  kExists = 7,         // would overwrite something that exists
  kInternal = 70,      // a bug; please report
};

int exit_code_for(Errc code);

struct GlobalOptions {
  std::filesystem::path vault;
  bool json = false;
  std::optional<std::filesystem::path> passphrase_file;
  Actor actor;
};

// A parsed subcommand's work, run after parsing; returns an exit code.
using Action = std::function<int()>;

// Print an Error as "tillid: <message>" on stderr and return its exit code.
int fail(const Error& error);

// Open the vault from the global options and unlock it (passphrase file or prompt).
Result<Vault> open_unlocked(const GlobalOptions& g);

void register_vault_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_record_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_export_commands(CLI::App& app, GlobalOptions& g, Action& action);
void register_audit_commands(CLI::App& app, GlobalOptions& g, Action& action);

}  // namespace tillid::cli
