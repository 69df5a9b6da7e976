// Access log benchmark (figures only, never pass/fail): batched appends of 1,000,000 entries,
// group-committed single appends from 4 threads, reopening, a full auditor verify, and
// inclusion / consistency proof generation on the 1M-entry tree.
// Usage: tillid-bench-log [entries=1000000] [dir=/tmp/...]
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "tillid/access_log.hpp"

using namespace tillid;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

static LogEvent make_event(std::uint64_t i) {
  LogEvent e;
  e.actor_id = "caseworker-" + std::to_string(i % 50);
  e.actor_role = "caseworker";
  e.action = LogAction::share_fetched;
  e.outcome = i % 17 == 0 ? LogOutcome::refused : LogOutcome::ok;
  e.case_id = "0123456789abcdef0123456789abcdef";
  e.item_id = "fedcba9876543210fedcba98765432" + std::to_string(10 + i % 90);
  e.details = "fetched over the local channel";
  return e;
}

int main(int argc, char** argv) {
  if (!tillid::disable_core_dumps()) return 70;  // holds vault keys and plaintext (issue 10, class 7)
  const std::uint64_t n = argc > 1 ? std::stoull(argv[1]) : 1000000;
  const fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / ("tillid-bench-log-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  if (sodium_init() < 0) return 1;
  std::array<unsigned char, 32> pk;
  Secret sk(64);
  crypto_sign_keypair(pk.data(), sk.data());
  const std::string origin = "tillid.local/bench";
  const std::string vkey = log_verifier_key(origin, pk);

  std::vector<std::string> kept;
  {
    auto log = AccessLog::create(dir, {origin, {}, pk});
    if (!log) return std::fprintf(stderr, "%s\n", log.error().message.c_str()), 1;
    // As an unlocked vault: every entry carries a MAC under the entry key (LOG-FORMAT.md §3.3).
    if (auto r = log->authenticate_tail(Secret::random(32), make_event(0)); !r)
      return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
    constexpr std::uint64_t kBatch = 1000;
    std::vector<LogEvent> batch;
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; i += kBatch) {
      batch.clear();
      for (std::uint64_t j = i; j < std::min(n, i + kBatch); ++j) batch.push_back(make_event(j));
      if (auto r = log->append_batch(batch); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
      if ((i / kBatch) % 100 == 0) kept.push_back(log->sign_checkpoint(sk, pk)->note);  // a checkpoint per 100 batches
    }
    kept.push_back(log->sign_checkpoint(sk, pk)->note);
    const double t = secs(t0);
    std::printf("append_batch: %llu entries in batches of %llu (each fdatasync'ed): %.2f s = %.0f entries/s\n",
                (unsigned long long)n, (unsigned long long)kBatch, t, n / t);

    // Group commit: 4 threads doing single appends for ~2 s.
    std::atomic<std::uint64_t> done{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const auto t1 = Clock::now();
    for (int th = 0; th < 4; ++th)
      threads.emplace_back([&, th] {
        for (std::uint64_t i = 0; !stop; ++i)
          if (log->append(make_event(i * 4 + th))) ++done;
      });
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop = true;
    for (auto& th : threads) th.join();
    const double t1s = secs(t1);
    std::printf("append (single, 4 threads, group commit): %llu in %.2f s = %.0f appends/s\n",
                (unsigned long long)done.load(), t1s, done.load() / t1s);
    kept.push_back(log->sign_checkpoint(sk, pk)->note);
  }

  const auto t2 = Clock::now();
  auto log = AccessLog::open(dir, {origin, {}, pk});
  if (!log) return std::fprintf(stderr, "%s\n", log.error().message.c_str()), 1;
  std::printf("open (%llu entries): %.3f s\n", (unsigned long long)log->size(), secs(t2));

  const auto t3 = Clock::now();
  auto rep = verify_log(dir, vkey, kept);
  if (!rep) return std::fprintf(stderr, "%s\n", rep.error().message.c_str()), 1;
  std::printf("verify_log (%llu entries, %llu checkpoints, %zu kept): %.3f s, %s\n", (unsigned long long)rep->entries,
              (unsigned long long)rep->checkpoints, kept.size(), secs(t3), rep->clean() ? "clean" : "PROBLEMS");

  const std::uint64_t size = log->size();
  std::mt19937_64 rng(1);
  constexpr int kProofs = 10000;
  auto t4 = Clock::now();
  std::size_t hashes = 0;
  for (int i = 0; i < kProofs; ++i) hashes += log->inclusion_proof(rng() % size, size)->path.size();
  const double inc = secs(t4) / kProofs;
  t4 = Clock::now();
  for (int i = 0; i < kProofs; ++i) {
    const std::uint64_t m = 1 + rng() % (size - 1);
    hashes += log->consistency_proof(m, size)->path.size();
  }
  const double con = secs(t4) / kProofs;
  std::printf("inclusion proof (tree size %llu, incl. reading the entry): %.1f us each\n", (unsigned long long)size, inc * 1e6);
  std::printf("consistency proof (random old size -> %llu): %.1f us each (%zu hashes total)\n", (unsigned long long)size,
              con * 1e6, hashes);
  const auto root = log->root();
  auto p = log->inclusion_proof(size / 3, size).value();
  t4 = Clock::now();
  bool ok = true;
  for (int i = 0; i < kProofs; ++i) ok &= verify_inclusion(log_leaf_hash(p.entry), p.index, p.tree_size, p.path, root);
  std::printf("verify_inclusion: %.1f us each (%s)\n", secs(t4) / kProofs * 1e6, ok ? "ok" : "FAILED");
  // The full check (no index, LOG-FORMAT.md §3.7) and the auditor verify every stored
  // checkpoint's signature: its cost per checkpoint, to scale by the number a vault accumulates.
  t4 = Clock::now();
  constexpr int kChecks = 2000;
  for (int i = 0; i < kChecks; ++i) ok &= open_checkpoint(kept[i % kept.size()], vkey).ok();
  std::printf("checkpoint signature check (as a full check does per stored checkpoint): %.1f us each (%s)\n",
              secs(t4) / kChecks * 1e6, ok ? "ok" : "FAILED");
  std::printf("entries file: %.1f MB\n", fs::file_size(dir / "entries") / 1e6);
  fs::remove_all(dir);
  return 0;
}
