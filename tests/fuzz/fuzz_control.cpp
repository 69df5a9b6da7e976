// Fuzz target: the control-socket request parser (tools/tillid/CONTROL-PROTOCOL.md), which
// reads lines from any local process that can reach the socket.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control_socket.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = tillid::cli::control::parse_request({reinterpret_cast<const char*>(data), size});
  if (r.ok() && r->kind == tillid::cli::control::Request::mark && r->label.empty()) __builtin_trap();
  return 0;
}
