// Access log start-up benchmark (figures only, never pass/fail): opening a 1,000,000-entry log
// with its index (LOG-FORMAT.md §3.7: the signed root authenticates the block hashes, only the
// tail is read) against the full check (no index: every entry re-hashed and decoded, every
// checkpoint verified, as every open did before the index), with the process's peak RSS
// during each; then what a daemon does next: unlock's tail check, an append and a checkpoint,
// and proofs, which now read one or two 256-entry blocks from the file.
// Last, the daemon's load on the log: 50 threads appending one entry at a time (group commit),
// with a checkpoint after every append or signed by a 1 s timer (Vault::defer_checkpoints).
// Usage: tillid-bench-log-open [entries=1000000] [entries per checkpoint=1000] [dir=/tmp/...]
// The page cache is warm (the log was just written); a cold start adds the read of the tail.
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "peak_rss.hpp"
#include "tillid/access_log.hpp"
#include "tillid/vault.hpp"

using namespace tillid;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

static long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

static LogEvent make_event(std::uint64_t i) {
  LogEvent e;
  e.actor_id = "staff-" + std::to_string(i % 50);
  e.actor_role = "staff";
  e.action = i % 2 == 0 ? LogAction::authz_decision : LogAction::items_listed;
  e.outcome = i % 17 == 0 ? LogOutcome::refused : LogOutcome::ok;
  e.case_id = "0123456789abcdef0123456789abcdef";
  e.details = i % 2 == 0 ? "ls" : "";
  return e;
}

int main(int argc, char** argv) {
  if (!tillid::disable_core_dumps()) return 70;
  const std::uint64_t n = argc > 1 ? std::stoull(argv[1]) : 1000000;
  const std::uint64_t per_cp = argc > 2 ? std::stoull(argv[2]) : 1000;
  const fs::path dir = argc > 3 ? fs::path(argv[3])
                                : fs::temp_directory_path() / ("tillid-bench-log-open-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  if (sodium_init() < 0) return 1;
  std::array<unsigned char, 32> pk;
  Secret sk(64);
  crypto_sign_keypair(pk.data(), sk.data());
  const std::string origin = "tillid.local/bench";
  auto fail = [](const Error& e) { return std::fprintf(stderr, "%s\n", e.message.c_str()), 1; };

  {
    auto log = AccessLog::create(dir, {origin, {}, pk});
    if (!log) return fail(log.error());
    if (auto r = log->authenticate_tail(Secret::random(32), make_event(0)); !r) return fail(r.error());
    std::vector<LogEvent> batch;
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; i += per_cp) {
      batch.clear();
      for (std::uint64_t j = i; j < std::min(n, i + per_cp); ++j) batch.push_back(make_event(j));
      if (auto r = log->append_batch(batch); !r) return fail(r.error());
      if (auto c = log->sign_checkpoint(sk, pk); !c) return fail(c.error());
    }
    std::printf("built: %llu entries, a checkpoint every %llu (%llu checkpoints) in %.1f s; entries %.1f MB, "
                "checkpoints %.1f MB, index %.1f KB\n",
                (unsigned long long)n, (unsigned long long)per_cp, (unsigned long long)((n + per_cp - 1) / per_cp),
                secs(t0), fs::file_size(dir / "entries") / 1e6, fs::file_size(dir / "checkpoints") / 1e6,
                fs::file_size(dir / "index") / 1e3);
  }

  auto timed_open = [&](const char* what) -> std::optional<AccessLog> {
    const long base = rss_kib();
    reset_peak_rss();
    const auto t = Clock::now();
    auto log = AccessLog::open(dir, {origin, {}, pk});
    const double s = secs(t);
    if (!log) {
      fail(log.error());
      return std::nullopt;
    }
    std::printf("open, %s: %.3f s; RSS %ld KiB before, peak %ld KiB, after %ld KiB (%llu entries)\n", what, s, base,
                peak_rss_kib(), rss_kib(), (unsigned long long)log->size());
    return std::move(log).value();
  };

  for (int i = 0; i < 3; ++i)
    if (!timed_open("with index")) return 1;
  fs::remove(dir / "index");
  if (!timed_open("no index (full check, as before the index; rebuilds it)")) return 1;
  auto log = timed_open("with the rebuilt index");
  if (!log) return 1;

  // What the daemon does next: unlock (the tail check reads from the newest checkpoint's block),
  // an append and its checkpoint.
  auto t = Clock::now();
  if (auto r = log->authenticate_tail(Secret::random(32), make_event(0)); !r) return fail(r.error());
  std::printf("authenticate_tail (unlock): %.1f ms\n", secs(t) * 1e3);
  t = Clock::now();
  if (auto r = log->append(make_event(1)); !r) return fail(r.error());
  if (auto c = log->sign_checkpoint(sk, pk); !c) return fail(c.error());
  std::printf("append + checkpoint: %.1f ms\n", secs(t) * 1e3);

  const std::uint64_t size = log->size();
  const LogHash root = log->root();
  std::mt19937_64 rng(1);
  constexpr int kProofs = 2000;
  bool ok = true;
  t = Clock::now();
  for (int i = 0; i < kProofs; ++i) {
    const std::uint64_t seq = rng() % size;
    auto p = log->inclusion_proof(seq, size);
    ok &= p && verify_inclusion(log_leaf_hash(p->entry), seq, size, p->path, root);
  }
  std::printf("inclusion proof (reads the entry's block, checks it): %.1f us each (%s)\n", secs(t) / kProofs * 1e6,
              ok ? "ok" : "FAILED");
  t = Clock::now();
  for (int i = 0; i < kProofs; ++i) {
    const std::uint64_t m = 1 + rng() % (size - 1);
    auto p = log->consistency_proof(m, size);
    auto old_root = log->root_at(m);
    ok &= p && old_root && verify_consistency(m, size, *old_root, root, p->path);
  }
  std::printf("consistency proof + root_at (random old size): %.1f us each (%s)\n", secs(t) / kProofs * 1e6,
              ok ? "ok" : "FAILED");

  struct Mode {
    int threads;
    bool deferred;
  };
  // One thread is the daemon today: its vault calls are serialised, one fdatasync per entry.
  for (const Mode mode : {Mode{50, false}, Mode{50, true}, Mode{1, true}}) {
    const int kThreads = mode.threads;
    const bool deferred = mode.deferred;
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> lat(kThreads);
    std::atomic<std::uint64_t> errors{0};
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (int th = 0; th < kThreads; ++th)
      threads.emplace_back([&, th] {
        for (std::uint64_t i = 0; !stop; ++i) {
          const auto a = Clock::now();
          bool good = log->append(make_event(i * kThreads + static_cast<std::uint64_t>(th))).ok();
          if (good && !deferred) good = log->sign_checkpoint(sk, pk).ok();
          if (!good) ++errors;
          lat[static_cast<std::size_t>(th)].push_back(secs(a));
        }
      });
    std::thread timer;
    if (deferred)
      timer = std::thread([&] {
        while (!stop) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          if (!log->sign_checkpoint(sk, pk)) ++errors;
        }
      });
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop = true;
    for (auto& th : threads) th.join();
    if (timer.joinable()) timer.join();
    const double wall = secs(t0);
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double q) { return all.empty() ? 0.0 : all[static_cast<std::size_t>(q * (all.size() - 1))] * 1e3; };
    std::printf("%d thread(s) appending one entry each, checkpoint %s: %.0f appends/s, p50 %.2f ms, p99 %.2f ms, "
                "%llu errors\n",
                kThreads, deferred ? "by a 1 s timer" : "after every append", all.size() / wall, pct(0.5), pct(0.99),
                (unsigned long long)errors.load());
  }

  log.reset();
  fs::remove_all(dir);

  // The rest of a daemon's start: Vault::open (the log open above plus the database) and
  // unlock (Argon2id at the `interactive` cost, the log's tail check, a checkpoint) on a
  // small vault; with a 1M-entry log add the open figure above.
  {
    const fs::path vdir = dir.string() + "-vault";
    fs::remove_all(vdir);
    const std::string pass = "correct horse battery staple";
    if (auto c = Vault::create(vdir, passphrase_from(pass), "bench", KdfCost::interactive(), Actor{}); !c)
      return fail(c.error());
    auto t1 = Clock::now();
    auto v = Vault::open(vdir, Actor{});
    if (!v) return fail(v.error());
    const double open_s = secs(t1);
    t1 = Clock::now();
    if (auto u = v->unlock(passphrase_from(pass)); !u) return fail(u.error());
    std::printf("Vault::open (small vault): %.1f ms; unlock (interactive KDF): %.0f ms\n", open_s * 1e3, secs(t1) * 1e3);
    v = make_error(Errc::internal, "closed");
    fs::remove_all(vdir);
  }
  return ok ? 0 : 1;
}
