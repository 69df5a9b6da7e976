// Peak resident memory of one phase of a benchmark process (proc(5)): restart the count with
// reset_peak_rss() (writing 5 to clear_refs resets VmHWM), read it with peak_rss_kib(). Used to
// leave the unlock's Argon2id (64 MiB at the `interactive` cost) out of a pipeline's figure.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

inline void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

inline long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}
