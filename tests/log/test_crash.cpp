// Crash safety: a child process appends from two threads and reports each seq on a pipe only
// after append() returned; it is killed with SIGKILL at a random moment. After every kill the
// log opens, verifies, holds every acknowledged entry with the right content, has no gap, and
// stays consistent with every checkpoint seen before (no fork). Iterations:
// TILLID_CRASH_ITERATIONS (default 100; use e.g. 1000 for a soak run).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

namespace {

struct Ack {
  std::uint64_t seq;
  std::uint32_t thread;
  std::uint32_t counter;
  std::uint32_t round;
};

std::string details_for(std::uint32_t round, std::uint32_t thread, std::uint32_t counter) {
  return "r" + std::to_string(round) + " t" + std::to_string(thread) + " c" + std::to_string(counter);
}

// The entry MAC key (vault subkey 5 in a vault): the child writes as an unlocked vault does.
Secret crash_entry_key() {
  Secret k(32);
  std::fill(k.data(), k.data() + 32, 0x33);
  return k;
}

[[noreturn]] void child(const fs::path& path, int fd, std::uint32_t round, const Key& key) {
  auto log = AccessLog::open(path, options(kOrigin, false));
  if (!log.ok()) _exit(3);
  // Every acknowledged entry carries a valid MAC, so a crash must never leave anything to
  // quarantine (LOG-FORMAT.md §3.4): a torn MAC'd record is cut, never half adopted.
  auto q = log->authenticate_tail(crash_entry_key(), event(0));
  if (!q.ok() || !q->empty()) _exit(7);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (std::uint32_t c = 0;; ++c) {
        LogEvent e = event(static_cast<int>(c));
        e.details = details_for(round, t, c);
        std::uint64_t seq;
        if (t == 1 && c % 4 == 0) {
          // Batches too, so torn multi-record writes happen.
          std::vector<LogEvent> batch(5, e);
          auto r = log->append_batch(batch);
          if (!r.ok()) _exit(4);
          seq = *r;  // report only the first; the others share the details
        } else {
          auto r = log->append(e);
          if (!r.ok()) _exit(4);
          seq = *r;
        }
        const Ack a{seq, t, c, round};
        if (::write(fd, &a, sizeof a) != sizeof a) _exit(5);
        if (c % 7 == 0 && !log->sign_checkpoint(key.sk, key.pk).ok()) _exit(6);
      }
    });
  for (auto& th : threads) th.join();
  _exit(0);
}

}  // namespace

TEST_CASE("the log survives kill -9 at any moment without loss, gap or fork", "[log][crash]") {
  int iterations = 100;
  if (const char* env = std::getenv("TILLID_CRASH_ITERATIONS")) iterations = std::max(1, std::atoi(env));
  TempDir dir;
  Key key;
  const auto path = dir.path / "log";
  REQUIRE(AccessLog::create(path, options()).ok());
  std::mt19937 rng(std::random_device{}());
  std::map<std::uint64_t, std::string> acked;  // seq -> details, over all rounds
  std::vector<std::string> kept;               // checkpoints an auditor would have kept
  std::uint64_t torn_recoveries = 0, total_entries = 0;

  for (int round = 0; round < iterations; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(path, fds[1], static_cast<std::uint32_t>(round), key);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(2000, 40000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    INFO("child exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    REQUIRE(WIFSIGNALED(status));  // it did not exit on an error of its own (7: quarantined)
    Ack a;
    while (::read(fds[0], &a, sizeof a) == sizeof a) acked[a.seq] = details_for(a.round, a.thread, a.counter);
    ::close(fds[0]);

    auto log = AccessLog::open(path, options());
    INFO("round " << round);
    if (!log.ok()) {
      if (const char* keep = std::getenv("TILLID_KEEP_CRASHED_LOG"))
        fs::copy(path, keep, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      FAIL(log.error().message);
    }
    if (log->recovery().entries_torn_bytes > 0) ++torn_recoveries;
    if (auto cp = log->latest_checkpoint()) kept.push_back(cp->note);
    auto rep = verify_log(path, key.vkey(kOrigin), kept);
    REQUIRE(rep.ok());
    std::string problems;
    for (const auto& p : rep->problems) problems += p.message + "\n";
    INFO(problems);
    REQUIRE(rep->clean());
    const auto all = log->entries().value();
    REQUIRE(all.size() == log->size());
    total_entries = all.size();
    for (std::uint64_t i = 0; i < all.size(); ++i) REQUIRE(all[i].seq == i);
    for (const auto& [seq, details] : acked) {
      INFO("acknowledged seq " << seq);
      REQUIRE(seq < all.size());
      CHECK(all[seq].details == details);
    }
  }
  WARN("crash rounds: " << iterations << ", acknowledged appends: " << acked.size() << ", entries: " << total_entries
                        << ", torn tails cut: " << torn_recoveries << ", kept checkpoints: " << kept.size());
}
