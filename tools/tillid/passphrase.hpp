// How the command obtains passphrases (and other typed secrets): from a file (scripts, CI) or a
// no-echo terminal prompt.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::cli {

// Read a passphrase from `file` (first line; at most 1 KiB), or, when no file is given, prompt
// on the controlling terminal without echo. With no file and no terminal this fails rather
// than waiting: nothing may prompt in CI.
Result<Passphrase> obtain_passphrase(const std::optional<std::filesystem::path>& file,
                                     const std::string& prompt);

// As above, but a prompt asks twice and requires both to match (for a new passphrase).
Result<Passphrase> obtain_new_passphrase(const std::optional<std::filesystem::path>& file,
                                         const std::string& prompt);

// Whether a controlling terminal exists to prompt on (never in CI or under a service manager).
bool have_terminal();

// One line from the controlling terminal without echo (may be empty), into sodium memory;
// also used for identifying values, which a shoulder-surfer or a terminal log must not see.
Result<Secret> ask_without_echo(const std::string& prompt);

}  // namespace tillid::cli
