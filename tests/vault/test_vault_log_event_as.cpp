// Vault::log_event_as: entries made outside the caller's lock, concurrently with each other
// and with ordinary calls under set_actor, each durable when the call returns, each naming
// the actor it was made for, and the log intact afterwards (the daemon logs its authorisation
// decisions this way, so that they share the log's group commit).
#include <map>
#include <thread>
#include <vector>

#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

TEST_CASE("log_event_as from many threads beside set_actor calls: every entry names its own actor",
          "[vault][log]") {
  TempDir t;
  const fs::path dir = t.path() / "v";
  Vault v = make_vault(dir);
  const std::string case_id = add_case(v);
  add_bytes(v, case_id, prng_bytes(100, 1));
  const std::size_t before = read_log_entries(dir / "log").value().size();

  constexpr int kThreads = 6, kEach = 20, kListings = 10;
  std::vector<int> failures(kThreads + 1, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const Actor who{"u" + std::to_string(i), i % 2 ? "staff" : "auditor"};
      for (int k = 0; k < kEach; ++k)
        if (!v.log_event_as(who, LogAction::authz_decision, LogOutcome::ok, "op status").ok()) ++failures[i];
    });
  }
  threads.emplace_back([&] {  // the gated kind of call, as the daemon makes it
    for (int k = 0; k < kListings; ++k) {
      v.set_actor(Actor{"lister", "staff"});
      if (!v.items().ok()) ++failures[kThreads];
    }
  });
  for (auto& th : threads) th.join();
  for (int f : failures) CHECK(f == 0);

  // Read back from disk by a separate reader: every acknowledged entry is there.
  auto all = read_log_entries(dir / "log");
  REQUIRE(all.ok());
  CHECK(all->size() == before + kThreads * kEach + kListings);
  std::map<std::string, int> authz;
  int listed = 0;
  for (const auto& e : *all) {
    if (e.action == LogAction::authz_decision) {
      ++authz[e.actor_id];
      const int i = e.actor_id.size() == 2 && e.actor_id[0] == 'u' ? e.actor_id[1] - '0' : -1;
      CHECK(e.actor_role == (i % 2 ? "staff" : "auditor"));
    }
    if (e.action == LogAction::items_listed) {
      ++listed;
      CHECK(e.actor_id == "lister");
    }
  }
  CHECK(listed == kListings);
  REQUIRE(authz.size() == static_cast<std::size_t>(kThreads));
  for (const auto& [who, n] : authz) CHECK(n == kEach);

  // The tree and its checkpoints still verify.
  auto report = verify_log(dir / "log", v.log_verifier_key());
  REQUIRE(report.ok());
  CHECK(report->problems.empty());
  CHECK(report->entries == all->size());
}
