// The control socket's file: made safely, with the configured mode, and removed at exit.
#pragma once

#include <filesystem>

#include "tillid/result.hpp"

namespace tillid::daemon {

// Binds and listens on `path` (AF_UNIX stream) and returns the listening descriptor. Its
// directory is created 0700 if absent (an existing one keeps its mode: the appliance's
// /run/tillid is made by systemd). Something already at `path` is removed only if it is a
// socket nobody answers on (a killed daemon's); a live daemon there is already_exists, any
// other file is refused. The socket gets `mode` (CONFIG.md control.socket_mode).
Result<int> bind_control_socket(const std::filesystem::path& path, unsigned mode);

}  // namespace tillid::daemon
