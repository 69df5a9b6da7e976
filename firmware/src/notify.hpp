// systemd's service notifications (sd_notify(3)): readiness, watchdog, stopping. Each is a
// no-op when the daemon does not run under systemd (no NOTIFY_SOCKET).
#pragma once

#include <chrono>

namespace tillid::daemon {

void notify_ready();
void notify_stopping();
void notify_watchdog();
// Half the watchdog timeout systemd set (WATCHDOG_USEC for this pid), or zero when none.
std::chrono::microseconds watchdog_interval();

}  // namespace tillid::daemon
