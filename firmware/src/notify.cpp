// sd_notify wrappers (libsystemd). unset_environment is 0: a child never inherits the
// socket, but tillidd starts no children, and keeping NOTIFY_SOCKET lets STOPPING=1 reach
// systemd after READY=1.
#include "notify.hpp"

#include <systemd/sd-daemon.h>

namespace tillid::daemon {

void notify_ready() { sd_notify(0, "READY=1\nSTATUS=serving the control socket"); }
void notify_stopping() { sd_notify(0, "STOPPING=1"); }
void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }

std::chrono::microseconds watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec / 2);
}

}  // namespace tillid::daemon
